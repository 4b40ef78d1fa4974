"""`autograder collect ASSIGNMENT PATH`: LMS downloads into ``submitted/``.

PATH is a folder or a ``.zip``. Each top-level entry names its student through
course.toml ``[collect] pattern`` (a regex with a named group ``student_id``,
default ``<student_id>_<anything>``):

* a per-student folder (``s001_Ivanov/…``): every file inside belongs to s001,
  sub-folders kept;
* a file (``s001_Ivanov_01_tensors.ipynb``, ``s001_submission.csv``): it belongs
  to s001 and is stored under the rest of its name (``submission.csv``).

Per student the result is ``submitted/<id>/<assignment>/``:

* exactly one notebook, renamed to the released notebook's name (two or more:
  that student is skipped with the reason, the others go on);
* the student's other files beside it, except those with the name of a released
  data file (``release/<assignment>/``, non-notebook): the released one wins,
  the grader supplies it, and the student's copy is reported, not copied;
* ``timestamp.txt``: ISO 8601 UTC (``2026-12-01T12:00:00+00:00``), taken from an
  LMS-provided ``timestamp.txt`` in the student's entry if present, else from the
  notebook's zip entry time (the Info-ZIP UTC time when the zip carries it, else
  the DOS time read in course.toml's ``course.timezone``), else the notebook
  file's modification time.

A previous submission that differs is moved whole to
``submitted/<id>/.archive/<assignment>/<stamp>/`` (stamp from its own timestamp,
``-1``, ``-2``… appended if taken) before the new one is moved in; an identical
one is left as it is (``unchanged``). New folders are assembled beside the
target and renamed into place, so a crash never leaves half a submission.

Nothing is silently dropped: names that do not match the pattern, symbolic
links and OS metadata (``__MACOSX``…) are listed as skipped. Students missing
from the roster are reported and added to the gradebook. The input is only
read; a zip is unpacked into a temporary folder after every entry is checked,
and one entry that is absolute or climbs out with ``..`` refuses the whole zip.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .course import Course, CourseError
from .gradebook import open_gradebook
from .policy import load_policy
from .roster import SAFE_ID
from .timestamp import format_timestamp, read_timestamp

UTC = dt.timezone.utc
TIMESTAMP_FILE = "timestamp.txt"
ARCHIVE = ".archive"
# Files that operating systems and Jupyter add on their own; never a submission.
JUNK_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", ".ipynb_checkpoints"}


class CollectError(CourseError):
    """The input cannot be collected at all (nothing was written)."""


@dataclass
class Collected:
    """One student's submission, now in ``submitted/``."""
    student_id: str
    notebook: Path                  # submitted/<id>/<assignment>/<released name>.ipynb
    source: str                     # the notebook's path inside the input
    extra_files: list[str]          # relative to the submission folder
    timestamp: dt.datetime          # aware, UTC
    timestamp_source: str           # "timestamp.txt" | "zip entry time" | "file mtime"
    archived: Path | None = None    # where the submission it replaced went
    kept_released: list[str] = field(default_factory=list)   # student files that lost to release/
    notes: list[str] = field(default_factory=list)


@dataclass
class Skipped:
    name: str                       # the entry in the input, as given
    reason: str
    student_id: str | None = None


@dataclass
class CollectSummary:
    assignment: str
    collected: list[Collected] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unknown_added: list[str] = field(default_factory=list)

    @property
    def replaced(self) -> list[str]:
        return [c.student_id for c in self.collected if c.archived is not None]


@dataclass
class _Item:
    """One file of the input that belongs to a student."""
    path: Path                      # on disk (the input folder or the unpacked zip)
    name: str                       # where it goes, relative to the submission folder
    origin: str                     # its name inside the input, for messages


# ---------------------------------------------------------------- timestamps

def parse_lms_timestamp(text: str, default_tz: dt.tzinfo = UTC) -> dt.datetime:
    """A timestamp.txt that came *from the LMS* as an aware UTC datetime.

    Our own timestamp.txt files are read with :mod:`autograder.timestamp`; this
    one is for foreign ones, which may lack an offset (then they are read in the
    course's time zone, ``default_tz``) or use looser formats (dateutil).
    Accepts ISO 8601 (``2026-12-01T12:00:00+00:00``, ``…Z``) and nbgrader's
    ``2026-12-01 12:00:00.000000 UTC``. Raises ValueError saying what was found.
    """
    value = text.strip()
    if not value:
        raise ValueError("it is empty")
    if value.endswith(" UTC"):
        value = value[:-4] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        from dateutil import parser as dateparser
        try:
            when = dateparser.parse(value)
        except (ValueError, OverflowError):
            raise ValueError(f"{text.strip()[:60]!r} is not a date and time like "
                             f"2026-12-01T12:00:00+00:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=default_tz)
    return when.astimezone(UTC)


def archive_stamp(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _zip_entry_time(info: zipfile.ZipInfo, tz: dt.tzinfo) -> dt.datetime:
    """The entry's modification time: the Info-ZIP UTC field if present (0x5455),
    else the DOS date/time, which has no zone and is read in ``tz``."""
    extra = info.extra
    while len(extra) >= 4:
        header, size = struct.unpack("<HH", extra[:4])
        body = extra[4:4 + size]
        if header == 0x5455 and len(body) >= 5 and body[0] & 1:
            return dt.datetime.fromtimestamp(struct.unpack("<i", body[1:5])[0], UTC)
        extra = extra[4 + size:]
    return dt.datetime(*info.date_time, tzinfo=tz).astimezone(UTC)


# ---------------------------------------------------------------- the input

def _zip_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:
        # Many tools write UTF-8 names without setting the UTF-8 flag; zipfile
        # then decodes them as cp437. Undo that when the bytes are valid UTF-8.
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name.replace("\\", "/")


def _unsafe_zip_entries(names: list[str]) -> list[str]:
    bad = []
    for name in names:
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            bad.append(f"{name!r} is an absolute path")
        elif ".." in PurePosixPath(name).parts:
            bad.append(f"{name!r} climbs out of the archive with '..'")
    return bad


def _unpack_zip(archive: Path, target: Path, tz: dt.tzinfo) -> list[Skipped]:
    """Check every entry, then unpack regular files into ``target`` with their times.

    Raises CollectError before writing anything if one entry is unsafe.
    Returns the entries not unpacked (symbolic links), to be reported.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise CollectError(f"{archive}: not a readable zip archive ({exc}); download it again") from None
    skipped: list[Skipped] = []
    with zf:
        infos = zf.infolist()
        names = [_zip_name(i) for i in infos]
        bad = _unsafe_zip_entries(names)
        if bad:
            shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise CollectError(
                f"{archive}: refused, {len(bad)} entr{'y' if len(bad) == 1 else 'ies'} would be written "
                f"outside the collection folder: {shown}. Nothing was collected. Ask the LMS for a "
                f"clean download or unpack it yourself and collect the folder.")
        for info, name in zip(infos, names):
            if info.is_dir():
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                skipped.append(Skipped(name, "symbolic link inside the zip; not followed"))
                continue
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out)
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                raise CollectError(f"{archive}: entry {name!r} cannot be read ({exc}); "
                                   f"nothing was collected. Download the archive again.") from None
            stamp = _zip_entry_time(info, tz).timestamp()
            os.utime(dest, (stamp, stamp))
    return skipped


def _top_level(root: Path, pattern: re.Pattern) -> Path:
    """Step into a single wrapping folder (``Submissions/``) that names no student."""
    while True:
        entries = [p for p in root.iterdir() if p.name not in JUNK_NAMES]
        if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() \
                and not pattern.search(entries[0].name):
            root = entries[0]
        else:
            return root


def _files_under(folder: Path, origin: str, notes: list[str]) -> list[_Item]:
    items = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in JUNK_NAMES for part in rel.parts):
            if path.is_file():
                notes.append(f"ignored {origin}/{rel.as_posix()} (editor or OS metadata)")
            continue
        if path.is_symlink():
            notes.append(f"ignored {origin}/{rel.as_posix()} (symbolic link, not followed)")
            continue
        if path.is_file():
            items.append(_Item(path, rel.as_posix(), f"{origin}/{rel.as_posix()}"))
    return items


def _scan(root: Path, pattern: re.Pattern, summary: CollectSummary
          ) -> dict[str, tuple[list[_Item], list[str]]]:
    """Group the input's files by student id; report every entry that names none."""
    groups: dict[str, tuple[list[_Item], list[str]]] = {}
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name in JUNK_NAMES:
            summary.skipped.append(Skipped(name, "operating-system or editor metadata; ignored"))
            continue
        if entry.is_symlink():
            summary.skipped.append(Skipped(name, "symbolic link; not followed"))
            continue
        match = pattern.search(name)
        if not match or not match.group("student_id"):
            summary.skipped.append(Skipped(
                name, f"name does not match collect.pattern {pattern.pattern!r} (course.toml); "
                      f"rename it like s001_<anything> or change the pattern"))
            continue
        student = match.group("student_id")
        if not SAFE_ID.match(student):
            summary.skipped.append(Skipped(name, f"student id {student!r} cannot be a folder name", student))
            continue
        items, notes = groups.setdefault(student, ([], []))
        if entry.is_dir():
            items.extend(_files_under(entry, name, notes))
        else:
            rest = name[match.end():].lstrip("_-. ") or name
            items.append(_Item(entry, rest, name))
    return groups


# ---------------------------------------------------------------- one student

def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _free_path(path: Path) -> Path:
    if not path.exists():
        return path
    n = 1
    while path.with_name(f"{path.name}-{n}").exists():
        n += 1
    return path.with_name(f"{path.name}-{n}")


def _stamp_of(submission: Path) -> str:
    """Archive folder name for an existing submission: its own timestamp."""
    when = read_timestamp(submission)
    if when is None:
        # No usable timestamp.txt (made by hand?): the folder's own time still orders it.
        when = dt.datetime.fromtimestamp(submission.stat().st_mtime, UTC)
    return archive_stamp(when)


def _plan(items: list[_Item], released_data: set[str], from_zip: bool, tz: dt.tzinfo
          ) -> tuple[_Item, list[_Item], dt.datetime, str, list[str]] | str:
    """Decide what one student's submission is, or return why it cannot be collected."""
    notebooks = [i for i in items if i.name.lower().endswith(".ipynb")]
    stamps = [i for i in items if i.name == TIMESTAMP_FILE]
    if not notebooks:
        found = ", ".join(i.origin for i in items) or "nothing"
        return f"no notebook (.ipynb) for this student; found: {found}"
    if len(notebooks) > 1:
        return (f"{len(notebooks)} notebooks ({', '.join(i.origin for i in notebooks)}); "
                f"one per student is expected: remove the extra ones and collect again")
    if len(stamps) > 1:
        return f"{len(stamps)} timestamp.txt files ({', '.join(i.origin for i in stamps)})"
    notebook = notebooks[0]
    if stamps:
        try:
            when = parse_lms_timestamp(stamps[0].path.read_text(encoding="utf-8", errors="replace"), tz)
        except ValueError as exc:
            return f"{stamps[0].origin}: unreadable timestamp, {exc}; fix or delete it and collect again"
        source = TIMESTAMP_FILE
    else:
        when = dt.datetime.fromtimestamp(notebook.path.stat().st_mtime, UTC)
        source = "zip entry time" if from_zip else "file mtime"

    extras, kept_released, seen = [], [], {}
    for item in items:
        if item is notebook or item in stamps:
            continue
        if item.name in released_data:
            kept_released.append(item.name)
            continue
        if item.name in seen:
            return f"two files would both be {item.name!r}: {seen[item.name]} and {item.origin}"
        seen[item.name] = item.origin
        extras.append(item)
    return notebook, extras, when, source, kept_released


def _install(course: Course, assignment: str, student: str, released_name: str,
             notebook: _Item, extras: list[_Item], when: dt.datetime) -> tuple[Path | None, bool]:
    """Write one submission into place. Returns (archive folder or None, changed?)."""
    dest = course.submission_dir(student, assignment)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".incoming-{assignment}-", dir=dest.parent))
    try:
        shutil.copy2(notebook.path, staging / released_name)
        for item in extras:
            target = staging / item.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item.path, target)
        (staging / TIMESTAMP_FILE).write_text(format_timestamp(when) + "\n", encoding="utf-8")

        archived = None
        if dest.exists():
            if _tree_digest(dest) == _tree_digest(staging):
                shutil.rmtree(staging)
                return None, False
            archived = _free_path(dest.parent / ARCHIVE / assignment / _stamp_of(dest))
            archived.parent.mkdir(parents=True, exist_ok=True)
            os.replace(dest, archived)
        os.replace(staging, dest)
        return archived, True
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------- the command

def collect(course: Course, assignment: str, path: Path, *, show: bool = True) -> CollectSummary:
    """Collect ``assignment`` submissions from the folder or zip at ``path``.

    Raises CollectError (nothing written) when the input is missing, not a
    folder or zip, an unreadable zip, or a zip with unsafe entries; CourseError
    when the assignment has no source notebook or no release. Per-student
    problems do not raise: they are in ``summary.skipped``. Prints a table
    unless ``show`` is False.
    """
    policy = load_policy(course.root)
    pattern = re.compile(policy.collect_pattern)
    try:
        tz = ZoneInfo(policy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CourseError(f"course.toml: course.timezone {policy.timezone!r} is not a time zone name "
                          f"like 'UTC' or 'Europe/Moscow'") from None
    released_name = course.release_notebook(assignment).name
    release_dir = course.release / assignment
    if not release_dir.is_dir():
        raise CourseError(f"{release_dir} does not exist; run `autograder release {assignment}` "
                          f"before collecting submissions")
    released_data = {p.relative_to(release_dir).as_posix() for p in release_dir.rglob("*")
                     if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts}

    path = Path(path)
    summary = CollectSummary(assignment)
    with tempfile.TemporaryDirectory(prefix="autograder-collect-") as tmp:
        if path.is_dir():
            root, from_zip = path, False
        elif path.is_file() and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)):
            summary.skipped.extend(_unpack_zip(path, Path(tmp), tz))
            root, from_zip = Path(tmp), True
        elif path.exists():
            raise CollectError(f"{path} is neither a folder nor a .zip archive; give the folder or "
                               f"the zip the LMS downloaded")
        else:
            raise CollectError(f"{path} does not exist")

        groups = _scan(_top_level(root, pattern), pattern, summary)
        planned = {}
        for student, (items, notes) in sorted(groups.items()):
            plan = _plan(items, released_data, from_zip, tz)
            if isinstance(plan, str):
                summary.skipped.append(Skipped(", ".join(sorted({i.origin.split('/')[0] for i in items}))
                                               or student, plan, student))
            else:
                planned[student] = (plan, notes)

        if planned:
            with open_gradebook(course.db_url) as gb:
                rostered = {s.id for s in gb.students}
                for student in planned:
                    if student not in rostered:
                        gb.add_student(student)
                        summary.unknown_added.append(student)

        for student, ((notebook, extras, when, source, kept), notes) in planned.items():
            archived, changed = _install(course, assignment, student, released_name,
                                         notebook, extras, when)
            if not changed:
                summary.unchanged.append(student)
                continue
            notes = list(notes) + [f"kept the released {name}; the student's copy was not collected"
                                   for name in kept]
            summary.collected.append(Collected(
                student, course.submission_dir(student, assignment) / released_name, notebook.origin,
                sorted(e.name for e in extras), when, source, archived, kept, notes))
    if show:
        print_summary(course, summary)
    return summary


def print_summary(course: Course, summary: CollectSummary) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # Names come from students: escape them so "[red]" in a file name is just text.
    table = Table(title=f"collect {escape(summary.assignment)}")
    for column in ("student", "result", "timestamp (from)", "notes"):
        table.add_column(column)
    for c in summary.collected:
        result = "replaced" if c.archived else "collected"
        notes = list(c.notes)
        if c.archived:
            notes.insert(0, f"previous one archived in {c.archived.relative_to(course.root)}")
        if c.student_id in summary.unknown_added:
            notes.insert(0, "not on the roster: added to the gradebook")
        if c.extra_files:
            notes.append("extra files: " + ", ".join(c.extra_files))
        table.add_row(c.student_id, result, f"{format_timestamp(c.timestamp)} ({c.timestamp_source})",
                      escape("\n".join(notes)))
    for student in summary.unchanged:
        table.add_row(student, "unchanged", "", "identical to the submission already collected")
    for s in summary.skipped:
        table.add_row(escape(s.student_id or "?"), "[red]skipped[/red]", "", escape(f"{s.name}: {s.reason}"))
    console = Console()
    console.print(table)
    console.print(f"{len(summary.collected)} collected ({len(summary.replaced)} replacing an earlier one), "
                  f"{len(summary.unchanged)} unchanged, {len(summary.skipped)} skipped, "
                  f"{len(summary.unknown_added)} not on the roster (added).")
