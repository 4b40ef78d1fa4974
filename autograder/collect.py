"""`autograder collect ASSIGNMENT PATH [--times FILE]`: LMS downloads into ``submitted/``.

PATH is a folder or a ``.zip``. Each top-level entry names its student through
course.toml ``[collect] pattern`` (a regex with a named group ``student_id``,
default ``<student_id>_<anything>``):

* a per-student folder (``s001_Ivanov/…``): every file inside belongs to s001,
  sub-folders kept;
* a file (``s001_Ivanov_01_tensors.ipynb``, ``s001_submission.csv``): it belongs
  to s001 and is stored under the rest of its name (``submission.csv``).

Per student the result is a submission folder as :mod:`coursebase.submission`
defines it:

* exactly one notebook, renamed to the released notebook's name (two or more:
  that student is skipped with the reason, the others go on);
* the student's other files beside it, except those with the name of a released
  data file (``release/<assignment>/``, non-notebook): the released one wins,
  the grader supplies it, and the student's copy is reported, not copied;
* ``timestamp.txt``, the trusted time, ISO 8601 UTC. It never comes from the
  student's upload. In order: the row of ``--times FILE`` (a CSV exported from
  the LMS, keyed by student id or by the entry's name), else the notebook's zip
  entry time (the Info-ZIP UTC time when the zip carries it, else the DOS time
  read in course.toml's ``course.timezone``), else the notebook file's
  modification time. A ``timestamp.txt`` inside the student's entry is the
  student's file: kept as ``uploaded-timestamp.txt``, ignored for the time,
  reported here and flagged ``attack`` at grading.

Intake is bounded by course.toml ``[collect]`` (policy.CollectPolicy): a file
over ``max_file_mb``, a zip entry that unpacks to more than ``max_ratio`` times
its compressed size (counted while it is unpacked, never trusting the size the
zip declares), files past ``max_entries`` in the download, or past
``max_submission_mb`` / ``max_submission_files`` for one student are reported
(which entry, which limit, what to do) and skipped; the rest is collected. The
whole zip also stops unpacking past ``max_ratio`` times its own size.

A previous submission that differs is moved whole to
``submitted/<id>/.archive/<assignment>/<stamp>/`` (stamp from its own timestamp,
``-1``, ``-2``… appended if taken) before the new one is moved in; an identical
one is left as it is (``unchanged``). New folders are assembled beside the
target and renamed into place, so a crash never leaves half a submission.

Nothing is silently dropped: names that do not match the pattern, symbolic
links, FIFOs and devices (never followed or opened) and OS metadata
(``__MACOSX``…) are listed as skipped. Students missing from the roster are
reported and added to the gradebook. The input is only read; one zip entry that
is absolute or climbs out with ``..`` refuses the whole zip before anything is
written.

Reading the zip (bounded unpacking) and the times CSV is :mod:`autograder.intake`'s; this
module plans each student's folder and installs it.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from autograder.gradebook import open_gradebook
from autograder.intake import RAISE_HINT, CollectError, Skipped, mb, read_times, unpack_zip
from autograder.roster import SAFE_ID
from coursebase import submission
from coursebase.layout import Course, CourseError
from coursebase.policy import CollectPolicy, load_policy
from coursebase.timestamp import format_timestamp

UTC = dt.timezone.utc
# Files that operating systems and Jupyter add on their own; never a submission.
JUNK_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", ".ipynb_checkpoints"}


@dataclass
class Collected:
    """One student's submission, now in ``submitted/``."""
    student_id: str
    notebook: Path                  # submitted/<id>/<assignment>/<released name>.ipynb
    source: str                     # the notebook's path inside the input
    extra_files: list[str]          # relative to the submission folder
    timestamp: dt.datetime          # aware, UTC
    timestamp_source: str           # "--times <file>" | "zip entry time" | "file mtime"
    archived: Path | None = None    # where the submission it replaced went
    kept_released: list[str] = field(default_factory=list)   # student files that lost to release/
    notes: list[str] = field(default_factory=list)
    uploaded_timestamp: bool = False   # the upload held its own timestamp.txt (kept, ignored)


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
    size: int = 0                   # from lstat


# ---------------------------------------------------------------- the input

def _top_level(root: Path, pattern: re.Pattern) -> Path:
    """Step into a single wrapping folder (``Submissions/``) that names no student."""
    while True:
        entries = [p for p in root.iterdir() if p.name not in JUNK_NAMES]
        if len(entries) == 1 and submission.is_folder(entries[0]) and not pattern.search(entries[0].name):
            root = entries[0]
        else:
            return root


def _files_under(folder: Path, origin: str, notes: list[str]) -> list[_Item]:
    files, refused = submission.scan(folder)
    for r in refused:
        if not any(part in JUNK_NAMES for part in r.rel.split("/")):
            verb = "followed" if r.kind == "symbolic link" else "opened"
            notes.append(f"ignored {origin}/{r.rel} ({r.kind}, not {verb})")
    items = []
    for f in files:
        if any(part in JUNK_NAMES for part in f.rel.split("/")):
            notes.append(f"ignored {origin}/{f.rel} (editor or OS metadata)")
            continue
        items.append(_Item(f.path, f.rel, f"{origin}/{f.rel}", f.size))
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
        info = os.lstat(entry)
        if stat.S_ISLNK(info.st_mode):
            summary.skipped.append(Skipped(name, "symbolic link; not followed"))
            continue
        if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
            summary.skipped.append(Skipped(name, f"{submission.kind_of(info.st_mode)}; not opened"))
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
        if stat.S_ISDIR(info.st_mode):
            items.extend(_files_under(entry, name, notes))
        else:
            rest = name[match.end():].lstrip("_-. ") or name
            items.append(_Item(entry, rest, name, info.st_size))
    return groups


def _cap_items(groups: dict[str, tuple[list[_Item], list[str]]], caps: CollectPolicy, from_zip: bool,
               summary: CollectSummary) -> None:
    """Drop (and report) files over ``max_file_mb`` and, in a folder, past ``max_entries``.

    A zip was already held to both while it was unpacked. A student left with
    no file is removed from ``groups``: each of their files is already reported.
    """
    seen = 0
    emptied = []
    for student, (items, _notes) in sorted(groups.items()):
        kept = []
        for item in items:
            if item.size > caps.max_file_bytes:
                summary.skipped.append(Skipped(item.origin, (
                    f"{mb(item.size)}, larger than collect.max_file_mb = {caps.max_file_mb} MB; not copied. "
                    + RAISE_HINT.format(key="max_file_mb")), student))
                continue
            seen += 1
            if not from_zip and seen > caps.max_entries:
                summary.skipped.append(Skipped(item.origin, (
                    f"the folder holds more than collect.max_entries = {caps.max_entries} files; this one and "
                    f"later ones were not copied. " + RAISE_HINT.format(key="max_entries")), student))
                continue
            kept.append(item)
        if items and not kept:
            emptied.append(student)
        items[:] = kept
    for student in emptied:
        del groups[student]


def _plan(items: list[_Item], released_data: set[str], caps: CollectPolicy,
          ) -> tuple[_Item, list[_Item], list[str], list[Skipped]] | str:
    """Decide what one student's submission is, or return why it cannot be collected.

    Returns the notebook, the extra files (``name`` already the stored one),
    the names that lost to release/, and the files left out by the submission caps.
    """
    notebooks = [i for i in items if i.name.lower().endswith(".ipynb")]
    if not notebooks:
        found = ", ".join(i.origin for i in items) or "nothing"
        return f"no notebook (.ipynb) for this student; found: {found}"
    if len(notebooks) > 1:
        return (f"{len(notebooks)} notebooks ({', '.join(i.origin for i in notebooks)}); "
                f"one per student is expected: remove the extra ones and collect again")
    notebook = notebooks[0]
    if notebook.size > caps.max_submission_bytes:
        return (f"the notebook {notebook.origin} ({mb(notebook.size)}) is larger than collect.max_submission_mb = "
                f"{caps.max_submission_mb} MB. " + RAISE_HINT.format(key="max_submission_mb"))

    extras: list[_Item] = []
    kept_released: list[str] = []
    left_out: list[Skipped] = []
    seen: dict[str, str] = {}
    used, count = notebook.size, 1
    for item in items:
        if item is notebook:
            continue
        if item.name in released_data:
            kept_released.append(item.name)
            continue
        name = submission.stored_name(item.name)
        if name in seen:
            return f"two files would both be {name!r}: {seen[name]} and {item.origin}"
        seen[name] = item.origin
        if count + 1 > caps.max_submission_files:
            left_out.append(Skipped(item.origin, (
                f"more than collect.max_submission_files = {caps.max_submission_files} files for this student; "
                f"not copied. " + RAISE_HINT.format(key="max_submission_files"))))
            continue
        if used + item.size > caps.max_submission_bytes:
            left_out.append(Skipped(item.origin, (
                f"with it this submission would be over collect.max_submission_mb = {caps.max_submission_mb} MB; "
                f"not copied. " + RAISE_HINT.format(key="max_submission_mb"))))
            continue
        used += item.size
        count += 1
        extras.append(_Item(item.path, name, item.origin, item.size))
    return notebook, extras, kept_released, left_out


def _install(course: Course, assignment: str, student: str, released_name: str,
             notebook: _Item, extras: list[_Item], when: dt.datetime, caps: CollectPolicy
             ) -> tuple[Path | None, bool]:
    """Write one submission into place. Returns (archive folder or None, changed?).

    Raises OSError (nothing written) when a file cannot be copied, e.g. it
    changed into a link or a FIFO since it was listed.
    """
    dest = course.submission_dir(student, assignment)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".incoming-{assignment}-", dir=dest.parent))
    try:
        submission.copy_regular(notebook.path, staging / released_name, caps.max_file_bytes)
        for item in extras:
            target = staging / item.name
            target.parent.mkdir(parents=True, exist_ok=True)
            submission.copy_regular(item.path, target, caps.max_file_bytes)
        submission.write_time(staging, when)

        archived = None
        if submission.is_folder(dest):
            if submission.tree_digest(dest) == submission.tree_digest(staging):
                shutil.rmtree(staging)
                return None, False
            archived = submission.archive_slot(dest)
            archived.parent.mkdir(parents=True, exist_ok=True)
            os.replace(dest, archived)
        os.replace(staging, dest)
        return archived, True
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------- the command

def collect(course: Course, assignment: str, path: Path, *, times: Path | None = None,
            show: bool = True) -> CollectSummary:
    """Collect ``assignment`` submissions from the folder or zip at ``path``.

    ``times``: a CSV of submission times from the LMS (see :func:`read_times`).
    Raises CollectError (nothing written) when the input is missing, not a
    folder or zip, an unreadable zip, a zip with unsafe entries, or a bad times
    file; CourseError when the assignment has no source notebook or no release.
    Per-student and per-file problems do not raise: they are in
    ``summary.skipped``. Prints a table unless ``show`` is False.
    """
    policy = load_policy(course.root)
    caps = policy.collect
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
    lms_times = read_times(times, tz) if times is not None else None

    path = Path(path)
    summary = CollectSummary(assignment)
    with tempfile.TemporaryDirectory(prefix="autograder-collect-") as tmp:
        if submission.is_folder(path):
            root, from_zip = path, False
        elif submission.is_regular(path) and (path.suffix.lower() == ".zip" or zipfile.is_zipfile(path)):
            summary.skipped.extend(unpack_zip(path, Path(tmp), tz, caps))
            root, from_zip = Path(tmp), True
        elif os.path.lexists(path):
            raise CollectError(f"{path} is neither a folder nor a .zip archive (a link, a FIFO or another "
                               f"kind of file is not read); give the folder or the zip the LMS downloaded")
        else:
            raise CollectError(f"{path} does not exist")

        groups = _scan(_top_level(root, pattern), pattern, summary)
        _cap_items(groups, caps, from_zip, summary)
        planned = {}
        for student, (items, notes) in sorted(groups.items()):
            plan = _plan(items, released_data, caps)
            if isinstance(plan, str):
                summary.skipped.append(Skipped(", ".join(sorted({i.origin.split('/')[0] for i in items}))
                                               or student, plan, student))
                continue
            notebook, extras, kept, left_out = plan
            for skip in left_out:
                skip.student_id = student
            summary.skipped.extend(left_out)
            when = lms_times.lookup(student, [i.origin for i in items]) if lms_times else None
            if lms_times and when is not None:
                source = lms_times.source
            else:
                when = dt.datetime.fromtimestamp(os.lstat(notebook.path).st_mtime, UTC)
                source = "zip entry time" if from_zip else "file mtime"
                if lms_times:
                    notes = [*notes, f"not in the {lms_times.source} list; used the {source}"]
            planned[student] = (notebook, extras, kept, when, source, notes)

        if planned:
            with open_gradebook(course.db_url) as gb:
                rostered = {s.id for s in gb.students}
                for student in planned:
                    if student not in rostered:
                        gb.add_student(student)
                        summary.unknown_added.append(student)

        for student, (notebook, extras, kept, when, source, notes) in planned.items():
            try:
                archived, changed = _install(course, assignment, student, released_name,
                                             notebook, extras, when, caps)
            except OSError as exc:
                summary.skipped.append(Skipped(notebook.origin.split("/")[0], (
                    f"could not be copied ({exc}); nothing was written for this student. Collect again"), student))
                continue
            if not changed:
                summary.unchanged.append(student)
                continue
            uploaded = any(e.name == submission.UPLOADED_TIMESTAMP for e in extras)
            notes = list(notes) + [f"kept the released {name}; the student's copy was not collected"
                                   for name in kept]
            if uploaded:
                notes.append(f"the upload held its own {submission.TIMESTAMP_FILE}: kept as "
                             f"{submission.UPLOADED_TIMESTAMP}, not used as the time; grading flags it attack")
            summary.collected.append(Collected(
                student, course.submission_dir(student, assignment) / released_name, notebook.origin,
                sorted(e.name for e in extras), when, source, archived, kept, notes, uploaded))
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
