"""The course policy file (``course.toml``): one typed loader with defaults.

Every part of the system reads limits, seeds, due dates, weights and
thresholds through :func:`load_policy`; nothing else parses the file.
Errors name the file, the key and what is wrong.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

POLICY_FILE = "course.toml"


LANGUAGES = ("en", "ru")


class PolicyError(ValueError):
    """course.toml is unreadable or has a value that makes no sense."""


@dataclass(frozen=True)
class Limits:
    """``[limits]``: what one submission's run may use.

    The grader passes this record whole to the sandbox (``executor.Job.limits``, JSON field by
    field): a new limit is one field here plus its use in ``autograder/engine/sandbox.py``. The
    properties below are the one place where the course's units become the kernel's.
    """
    cell_timeout: float = 60.0
    notebook_timeout: float = 600.0
    cpu_time: float = 600.0
    memory_mb: int = 2048
    processes: int = 64
    file_size_mb: int = 256
    disk_mb: int = 512
    output_kb: int = 256
    workers: int = 0

    @property
    def effective_workers(self) -> int:
        return self.workers or (os.cpu_count() or 1)

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb << 20

    @property
    def cpu_seconds(self) -> int:
        return int(self.cpu_time)

    @property
    def file_size_bytes(self) -> int:
        return self.file_size_mb << 20

    @property
    def disk_bytes(self) -> int:
        return self.disk_mb << 20

    @property
    def output_bytes(self) -> int:
        return self.output_kb << 10


@dataclass(frozen=True)
class SandboxPolicy:
    preimport: tuple[str, ...] = (
        "numpy", "torch", "torch.nn", "torch.nn.functional", "torch.utils.data", "torch.optim",
        "torch._dynamo",  # the first optimizer step imports it (and sympy): about 1.7 s per submission otherwise
        "pandas", "matplotlib.pyplot",
    )


@dataclass(frozen=True)
class CollectPolicy:
    """``[collect]``: how LMS downloads are read (see autograder/collect.py)."""
    pattern: str = r"^(?P<student_id>[A-Za-z0-9.\-]+)_"
    max_file_mb: int = 50               # one file of a submission
    max_submission_mb: int = 100        # all files of one student's submission
    max_submission_files: int = 200     # files in one student's submission
    max_entries: int = 10000            # files in the whole download (zip entries or folder files)
    max_ratio: int = 100                # unpacked size / compressed size, per zip entry and per zip

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb << 20

    @property
    def max_submission_bytes(self) -> int:
        return self.max_submission_mb << 20


# (key, lowest, highest, why the bound): checked by parse_policy with these words.
COLLECT_RANGES = (
    ("max_file_mb", 1, 100_000, "a notebook needs at least 1 MB"),
    ("max_submission_mb", 1, 1_000_000, "a notebook needs at least 1 MB"),
    ("max_submission_files", 1, 100_000, "a submission has at least its notebook"),
    ("max_entries", 1, 10_000_000, "a download has at least one file"),
    ("max_ratio", 10, 100_000, "ordinary notebooks and CSV files compress up to about 10 times"),
)


@dataclass(frozen=True)
class LatePolicy:
    kind: str = "per_day"  # none | per_day | reject
    per_day: float = 0.10
    max_penalty: float = 0.5
    grace_minutes: float = 15.0


@dataclass(frozen=True)
class LeaderboardPolicy:
    url: str = "sqlite:///leaderboard.db"
    assignment: str = "04_mlp_fashion_mnist"
    public_fraction: float = 0.3
    split_seed: int = 20261123
    daily_limit: int = 5
    pseudonyms: bool = True
    plausibility_max: float = 0.97
    copy_agreement: float = 0.995
    max_points: float = 10.0
    floor_points: float = 2.0
    thresholds: tuple[tuple[float, float], ...] = ((0.82, 4.0), (0.86, 7.0), (0.88, 9.0), (0.90, 10.0))
    rank_bonus: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class PortalPolicy:
    """``[portal]``: the course portal's database (see portal/store.py); empty = ``.autograder/portal.db``."""
    url: str = ""


DEFAULT_WEIGHTS = {
    "01_tensors": 15.0,
    "02_dot_product": 10.0,
    "03_parameter_count": 15.0,
    "04_mlp_fashion_mnist": 30.0,
    "leaderboard": 30.0,
}


@dataclass(frozen=True)
class Policy:
    course_id: str = "pytorch-mlp"
    grading_seed: int = 2026
    timezone: str = "UTC"
    language: str = "en"          # of the pages students read: en | ru
    limits: Limits = field(default_factory=Limits)
    sandbox: SandboxPolicy = field(default_factory=SandboxPolicy)
    collect_pattern: str = CollectPolicy.pattern
    collect: CollectPolicy = field(default_factory=CollectPolicy)
    late: LatePolicy = field(default_factory=LatePolicy)
    due: dict[str, dt.datetime] = field(default_factory=dict)
    extensions: dict[str, dict[str, dt.datetime]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    leaderboard: LeaderboardPolicy = field(default_factory=LeaderboardPolicy)
    portal: PortalPolicy = field(default_factory=PortalPolicy)
    source: Path | None = None

    def due_for(self, student_id: str, assignment: str) -> dt.datetime | None:
        """The deadline that applies to one student: an extension wins over the due date."""
        ext = self.extensions.get(student_id, {}).get(assignment)
        return ext or self.due.get(assignment)


def _section(cls, raw: dict[str, Any], name: str, path: Path | None):
    """Build dataclass ``cls`` from table ``raw``, type-checking every key."""
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: [{name}] must be a table, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise PolicyError(
                f"{path}: unknown key '{name}.{key}'. Known keys: {', '.join(sorted(known))}."
            )
        default = getattr(cls(), key)
        values[key] = _coerce(value, default, f"{name}.{key}", path)
    return cls(**values)


def _coerce(value: Any, default: Any, key: str, path: Path | None) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise PolicyError(f"{path}: '{key}' must be true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PolicyError(f"{path}: '{key}' must be a number, got {value!r}")
        if value < 0:
            raise PolicyError(f"{path}: '{key}' must not be negative, got {value!r}")
        if isinstance(default, int):
            if not float(value).is_integer():
                raise PolicyError(f"{path}: '{key}' must be a whole number, got {value!r}")
            return int(value)
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise PolicyError(f"{path}: '{key}' must be a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list):
            raise PolicyError(f"{path}: '{key}' must be a list, got {value!r}")
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


def _parse_time(value: Any, key: str, path: Path | None) -> dt.datetime:
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            raise PolicyError(
                f"{path}: '{key}' = {value!r} is not a date and time; write it like "
                f"\"2026-12-07T23:59:00+00:00\"") from None
    else:
        raise PolicyError(f"{path}: '{key}' must be a date and time, got {value!r}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def parse_policy(raw: dict[str, Any], path: Path | None = None) -> Policy:
    """Turn the parsed TOML tables into a validated :class:`Policy`."""
    allowed = {"course", "limits", "sandbox", "collect", "late_policy", "assignments",
               "extensions", "weights", "leaderboard", "portal"}
    for key in raw:
        if key not in allowed:
            raise PolicyError(f"{path}: unknown section [{key}]. Known sections: {', '.join(sorted(allowed))}.")
    course = raw.get("course", {})
    limits = _section(Limits, raw.get("limits", {}), "limits", path)
    if limits.cell_timeout <= 0 or limits.notebook_timeout <= 0:
        raise PolicyError(f"{path}: limits.cell_timeout and limits.notebook_timeout must be above 0")
    sandbox = _section(SandboxPolicy, raw.get("sandbox", {}), "sandbox", path)
    late = _section(LatePolicy, raw.get("late_policy", {}), "late_policy", path)
    if late.kind not in ("none", "per_day", "reject"):
        raise PolicyError(f"{path}: late_policy.kind must be none, per_day or reject, got {late.kind!r}")
    for key in ("per_day", "max_penalty"):
        if not 0 <= getattr(late, key) <= 1:
            raise PolicyError(f"{path}: late_policy.{key} is a share of the maximum score, between 0 and 1 "
                              f"(0.10 = 10 %), got {getattr(late, key)!r}")
    board = _section(LeaderboardPolicy, raw.get("leaderboard", {}), "leaderboard", path)
    if not 0 < board.public_fraction < 1:
        raise PolicyError(f"{path}: leaderboard.public_fraction must be between 0 and 1, got {board.public_fraction}")
    thresholds = []
    for item in board.thresholds:
        if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(v, (int, float)) for v in item)):
            raise PolicyError(f"{path}: leaderboard.thresholds must be [[accuracy, points], ...], got {item!r}")
        thresholds.append((float(item[0]), float(item[1])))
    if [t for t, _ in thresholds] != sorted(t for t, _ in thresholds):
        raise PolicyError(f"{path}: leaderboard.thresholds must be in increasing order of accuracy")
    board = LeaderboardPolicy(**{**board.__dict__, "thresholds": tuple(thresholds)})

    collect = _section(CollectPolicy, raw.get("collect", {}), "collect", path)
    for key, low, high, why in COLLECT_RANGES:
        value = getattr(collect, key)
        if not low <= value <= high:
            raise PolicyError(f"{path}: collect.{key} = {value} is out of range: it must be between {low} and "
                              f"{high} ({why})")
    if collect.max_file_mb > collect.max_submission_mb:
        raise PolicyError(f"{path}: collect.max_file_mb = {collect.max_file_mb} is larger than "
                          f"collect.max_submission_mb = {collect.max_submission_mb}; one file cannot be larger "
                          f"than the whole submission. Raise max_submission_mb or lower max_file_mb.")
    pattern = collect.pattern
    try:
        if "student_id" not in re.compile(pattern).groupindex:
            raise PolicyError(f"{path}: collect.pattern needs a named group (?P<student_id>...), got {pattern!r}")
    except re.error as exc:
        raise PolicyError(f"{path}: collect.pattern is not a valid regular expression: {exc}") from None

    due = {}
    for name, table in raw.get("assignments", {}).items():
        if "due" in table:
            due[name] = _parse_time(table["due"], f"assignments.{name}.due", path)
    extensions = {}
    for student, table in raw.get("extensions", {}).items():
        if not isinstance(table, dict):
            raise PolicyError(f"{path}: extensions.{student} must be a table of assignment = date")
        extensions[str(student)] = {
            a: _parse_time(v, f"extensions.{student}.{a}", path) for a, v in table.items()
        }
        unknown = sorted(a for a in table if a not in due)
        if unknown:
            raise PolicyError(f"{path}: extensions.{student} names {', '.join(unknown)}, which has no "
                              f"[assignments.<name>] due date (known: {', '.join(sorted(due)) or 'none'}); "
                              f"an extension moves a due date, so fix the name or add the due date")
    weights = dict(DEFAULT_WEIGHTS)
    if "weights" in raw:
        weights = {}
        for name, value in raw["weights"].items():
            weights[name] = float(_coerce(value, 1.0, f"weights.{name}", path))
        if abs(sum(weights.values()) - 100) > 1e-6:
            listed = ", ".join(f"{k} = {v:g}" for k, v in weights.items())
            raise PolicyError(f"{path}: [weights] are percentages of the final grade and must add up to 100, "
                              f"got {sum(weights.values()):g} ({listed})")
    seed = course.get("grading_seed", Policy.grading_seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise PolicyError(f"{path}: course.grading_seed must be an integer between 0 and 2**32-1, got {seed!r}")
    language = course.get("language", Policy.language)
    if language not in LANGUAGES:
        raise PolicyError(f"{path}: course.language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    return Policy(
        course_id=str(course.get("id", Policy.course_id)),
        language=language,
        grading_seed=seed,
        timezone=str(course.get("timezone", "UTC")),
        limits=limits,
        sandbox=sandbox,
        collect_pattern=pattern,
        collect=collect,
        late=late,
        due=due,
        extensions=extensions,
        weights=weights,
        leaderboard=board,
        portal=_section(PortalPolicy, raw.get("portal", {}), "portal", path),
        source=path,
    )


def load_policy(course_dir: str | os.PathLike) -> Policy:
    """Read ``<course_dir>/course.toml``; a missing file means all defaults."""
    path = Path(course_dir) / POLICY_FILE
    if not path.exists():
        return Policy(source=None)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}. Fix the line it names and run again.") from None
    return parse_policy(raw, path)


def render_policy(policy: Policy) -> str:
    """The effective policy as course.toml text, every default filled in (pure); `autograder policy` prints it."""
    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, dt.datetime):
            return f'"{v.isoformat()}"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    def table(name: str, obj) -> list[str]:
        return [f"[{name}]"] + [f"{f.name} = {value(getattr(obj, f.name))}" for f in fields(obj)] + [""]

    lines = [f"# effective policy{f' of {policy.source}' if policy.source else ' (no course.toml: all defaults)'}", "",
             "[course]", f"id = {value(policy.course_id)}", f"grading_seed = {policy.grading_seed}",
             f"timezone = {value(policy.timezone)}", f"language = {value(policy.language)}", ""]
    lines += table("limits", policy.limits) + table("sandbox", policy.sandbox)
    lines += ["[collect]", f"pattern = '{policy.collect_pattern}'", ""]
    lines += table("late_policy", policy.late)
    for name, due in sorted(policy.due.items()):
        lines += [f"[assignments.{name}]", f"due = {value(due)}", ""]
    lines += ["[extensions]"] + [
        f"{student} = {{ " + ", ".join(f"{a} = {value(d)}" for a, d in sorted(ext.items())) + " }"
        for student, ext in sorted(policy.extensions.items())] + [""]
    lines += ["[weights]"] + [f"{k} = {v:g}" for k, v in policy.weights.items()] + [""]
    lines += table("leaderboard", policy.leaderboard)
    return "\n".join(lines).rstrip() + "\n"
