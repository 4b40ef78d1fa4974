"""Typed records passed along the grading pipeline.

The status words and flags are the closed lists of docs/contracts.md; every export, record,
feedback page and report uses these and no others.
"""
from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any


class Word(str, enum.Enum):
    """A word from one of the closed lists of docs/contracts.md: compares equal to, and prints as, the word itself."""

    def __str__(self) -> str:
        return self.value


class Status(Word):
    """A notebook submission's status. When several apply, the first of failed, crashed, timeout, graded wins."""
    GRADED = "graded"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    FAILED = "failed"
    MISSING = "missing"


class Flag(Word):
    LATE = "late"
    TAMPERED = "tampered"
    ATTACK = "attack"
    OVERRIDE = "override"
    UNSANDBOXED = "unsandboxed"


@dataclass
class CellResult:
    """The outcome of one graded cell (grade_id) of one submission."""
    grade_id: str
    max_score: float
    score: float | None          # None: needs a manual grade (an answered manual cell)
    ran: bool = True             # False: the kernel was gone before this cell
    error: str = ""              # one line for the student, empty when it passed
    kind: str = "test"           # test | manual

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    """What one sandboxed run of one submission produced."""
    student_id: str
    assignment: str
    status: Status
    cells: list[CellResult] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)   # flag -> what was seen
    message: str = ""
    duration: float = 0.0
    outputs: list[dict[str, Any]] = field(default_factory=list)  # per notebook cell, for feedback
    sandbox: str = "namespaces"
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return float(sum(c.score or 0.0 for c in self.cells))

    @property
    def max_score(self) -> float:
        return float(sum(c.max_score for c in self.cells))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["score"] = self.score
        data["max_score"] = self.max_score
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunResult":
        data = dict(data)
        data.pop("score", None)
        data.pop("max_score", None)
        data["status"] = Status(data["status"])
        data["cells"] = [CellResult(**c) for c in data.get("cells", [])]
        return cls(**data)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


# One entry of RunResult.outputs, per notebook cell, for feedback pages:
#   {"index": int, "cell_type": "code" | "markdown", "grade_id": str | None,
#    "source": str            (what the student sees: hidden tests never appear),
#    "stdout": str, "stderr": str, "error": str (traceback text, no ANSI codes),
#    "results": [{"text/plain": str} | {"image/png": base64 str} | {"text/html": str}],
#    "truncated": bool, "score": float | None, "max_score": float | None}


def load_latest_records(path) -> dict[tuple[str, str], RunResult]:
    """The newest record per (student_id, assignment) from a records JSON Lines file.

    Lines that do not parse (a run killed mid-write) are skipped: the submission
    they belong to has no complete record and is graded again.
    """
    from pathlib import Path

    latest: dict[tuple[str, str], RunResult] = {}
    path = Path(path)
    if not path.exists():
        return latest
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                record = RunResult.from_json(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue
            latest[(record.student_id, record.assignment)] = record
    return latest
