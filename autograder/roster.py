"""`autograder students import ROSTER.csv [--format canvas|moodle|csv]`: the roster into nbgrader's gradebook.

The gradebook's students *are* the roster: ``export`` marks a rostered student
with nothing submitted as ``missing``. Header names are case-insensitive;
comma, semicolon and tab delimiters are recognised (spreadsheet exports in a
Russian locale use ``;``). Three presets (``--format``; detected from the
header when unambiguous, else the command asks for it):

* ``csv``: ``student_id`` (or ``id``), optional ``first_name``, ``last_name``,
  ``email``; a single ``name`` (or ``full_name``) column is kept whole as the
  last name, so ``id,name`` rosters keep their names.
* ``canvas`` (a Canvas gradebook or roster export: ``Student, ID, SIS User ID,
  SIS Login ID, Section``): the student id is the ``SIS User ID`` (else the
  ``SIS Login ID``), never Canvas's internal ``ID``, which is kept as nbgrader's
  ``lms_user_id``; ``Student`` ("Last, First") gives the names; the
  ``Points Possible`` line is skipped.
* ``moodle`` (a Moodle participants or grades export): the student id is the
  ``ID number`` (else the ``Username``); ``First name``, ``Last name`` (or
  ``Surname``), ``Email address``.

No column is dropped silently: every column of every line is kept in
``.autograder/lms_roster.json`` (the LMS exports in :mod:`autograder.lms`
write Canvas's and Moodle's identifier columns back from it), and the summary
names the columns that are kept there but not in the gradebook.

All-or-nothing: every problem of the file (missing id, duplicate id, an id that
cannot be a folder name, a malformed email) is reported at once with its line
number, and then nothing is imported, so the gradebook never holds half a
roster. Re-importing updates names and emails in place; grades are untouched
(nbgrader keys submissions by student id). Students already in the gradebook
but absent from the file are kept and reported.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.gradebook import open_gradebook
from coursebase.layout import Course, CourseError

# A student id becomes a folder name under submitted/ and feedback/.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
FORMATS = ("csv", "canvas", "moodle")


@dataclass(frozen=True)
class Preset:
    """Which (normalised) header names hold what, for one LMS's roster export."""
    ids: tuple[str, ...]               # the first non-empty of these is the student id
    first_name: tuple[str, ...] = ()
    last_name: tuple[str, ...] = ()
    full_name: tuple[str, ...] = ()    # one column with the whole name
    email: tuple[str, ...] = ()
    lms_id: tuple[str, ...] = ()       # the LMS's own internal id (nbgrader's lms_user_id)
    skip_names: tuple[str, ...] = ()   # full_name values of lines that are not students


PRESETS = {
    "csv": Preset(ids=("student_id", "id"), first_name=("first_name",), last_name=("last_name",),
                  full_name=("name", "full_name"), email=("email",)),
    "canvas": Preset(ids=("sis_user_id", "sis_login_id"), full_name=("student",), email=("email",),
                     lms_id=("id",), skip_names=("Points Possible",)),
    "moodle": Preset(ids=("id_number", "username"), first_name=("first_name",), last_name=("last_name", "surname"),
                     email=("email_address", "email"), lms_id=("user_id",)),
}


class RosterError(CourseError):
    """The roster file cannot be imported; the message lists every problem."""


@dataclass(frozen=True)
class RosterEntry:
    student_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    line: int
    lms_user_id: str | None = None
    columns: dict[str, str] = field(default_factory=dict)   # every column of the line, as in the file


@dataclass
class RosterImport:
    """What an import changed in the gradebook."""
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_in_file: list[str] = field(default_factory=list)   # in the gradebook, kept
    format: str = "csv"
    kept_aside: list[str] = field(default_factory=list)     # columns kept in lms_roster.json only


def _normalise_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def detect_format(header: list[str]) -> list[str]:
    """The presets a normalised header fits (pure): Canvas and Moodle by their own columns."""
    names = set(header)
    found = []
    if {"student", "id"} <= names and names & {"sis_user_id", "sis_login_id"}:
        found.append("canvas")
    if "id_number" in names or ("email_address" in names and "first_name" in names):
        found.append("moodle")
    if "student_id" in names or ("id" in names and "canvas" not in found):
        found.append("csv")
    return found


def _choose_format(header: list[str], wanted: str | None, source: str) -> str:
    fits = detect_format(header)
    if wanted is not None:
        if wanted not in FORMATS:
            raise RosterError(f"unknown roster format {wanted!r}; use one of {', '.join(FORMATS)}")
        if wanted not in fits and not any(h in header for h in PRESETS[wanted].ids):
            raise RosterError(f"{source}: line 1 (header) does not look like a {wanted} roster: none of "
                              f"{', '.join(PRESETS[wanted].ids)} is a column (found: {', '.join(header) or 'none'})")
        return wanted
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise RosterError(
            f"{source}: line 1 (header) has no student_id or id column; found columns: "
            f"{', '.join(header) or 'none'}. Rename the column holding student ids to student_id, "
            f"or give --format canvas|moodle for an LMS export.")
    raise RosterError(f"{source}: the header fits several roster formats ({', '.join(fits)}); "
                      f"say which with --format {'|'.join(fits)}")


def _split_full_name(value: str | None, fmt: str) -> tuple[str | None, str | None]:
    """(first, last) from one name column: Canvas writes "Last, First"; elsewhere the name is kept whole."""
    if value is None:
        return None, None
    if fmt == "canvas" and ", " in value:
        last, first = value.split(", ", 1)
        return first.strip() or None, last.strip() or None
    return None, value


def parse_roster(text: str, source: str = "roster", fmt: str | None = None) -> list[RosterEntry]:
    """Parse roster text into entries, or raise RosterError listing every problem.

    ``fmt`` is a preset name or None to detect it. ``source`` names the file in
    messages. Blank lines are skipped. Line numbers are the file's own (the header is line 1).
    """
    return parse_roster_with_format(text, source, fmt)[1]


def _first_cell(row: list[str], indexes: list[int]) -> str | None:
    """The first non-blank cell of ``row`` among the columns ``indexes``, stripped; None if all are blank."""
    for index in indexes:
        if index < len(row) and row[index].strip():
            return row[index].strip()
    return None


def parse_roster_with_format(text: str, source: str = "roster",
                             fmt: str | None = None) -> tuple[str, list[RosterEntry], list[str]]:
    """(format, entries, the file's header as written) of roster text; see :func:`parse_roster`."""
    if not text.strip():
        raise RosterError(f"{source}: the file is empty; it needs a header line with student_id "
                          f"(or id), first_name, last_name, email and one line per student")
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    raw_header = [h.strip() for h in next(reader)]
    header = [_normalise_header(h) for h in raw_header]
    fmt = _choose_format(header, fmt, source)
    preset = PRESETS[fmt]

    def column(names: tuple[str, ...]) -> list[int]:
        return [header.index(n) for n in names if n in header]

    id_cols = column(preset.ids)
    entries: list[RosterEntry] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    line = 1
    for row in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue

        full = _first_cell(row, column(preset.full_name))
        if full is not None and full in preset.skip_names:
            continue
        student_id = _first_cell(row, id_cols)
        email = _first_cell(row, column(preset.email))
        bad = False
        if student_id is None:
            where = " or ".join(raw_header[i] for i in id_cols) or "student_id"
            extra = " (Canvas's internal ID is not used as a student id)" if fmt == "canvas" else ""
            problems.append(f"line {start}: no student id in {where}{extra}")
            bad = True
        elif not SAFE_ID.match(student_id):
            problems.append(f"line {start}: student id {student_id!r} may only use letters, digits, "
                            f"'.', '_' and '-' (it becomes a folder name)")
            bad = True
        elif student_id in first_line:
            problems.append(f"line {start}: duplicate student id {student_id!r} "
                            f"(first on line {first_line[student_id]})")
            bad = True
        if email is not None and not EMAIL.match(email):
            problems.append(f"line {start}: email {email!r} is not an address like name@example.org")
            bad = True
        if student_id is not None and student_id not in first_line:
            first_line[student_id] = start
        if student_id is not None and not bad:
            first, last = _first_cell(row, column(preset.first_name)), _first_cell(row, column(preset.last_name))
            if first is None and last is None:
                first, last = _split_full_name(full, fmt)
            columns = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(raw_header)}
            entries.append(RosterEntry(student_id, first, last, email, start,
                                       lms_user_id=_first_cell(row, column(preset.lms_id)), columns=columns))
    if problems:
        raise RosterError(f"{source}: {len(problems)} problem(s); nothing was imported. "
                          f"Fix these lines and import again:\n  " + "\n  ".join(problems))
    if not entries:
        raise RosterError(f"{source}: the header is there but no student lines follow; nothing was imported")
    return fmt, entries, raw_header


def _in_gradebook(fmt: str, header: list[str]) -> set[str]:
    """Header names (as written) whose values go into the gradebook's student rows."""
    preset = PRESETS[fmt]
    used = set(preset.ids + preset.first_name + preset.last_name + preset.full_name + preset.email + preset.lms_id)
    return {h for h in header if _normalise_header(h) in used}


def lms_roster_path(course: Course) -> Path:
    return course.state / "lms_roster.json"


def load_lms_roster(course: Course) -> dict[str, dict]:
    """student_id -> {"format": ..., "columns": {header: value}} from the last import of each student."""
    path = lms_roster_path(course)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def read_roster(path: Path, fmt: str | None = None) -> tuple[str, list[RosterEntry], list[str]]:
    """Read and parse a roster file: (format, entries, header); RosterError names the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise RosterError(f"roster file {path} does not exist (or is not a file)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError(
            f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded). Save the roster as "
            f"'CSV UTF-8' from your spreadsheet and import again; nothing was imported.") from None
    return parse_roster_with_format(text, str(path), fmt)


def import_roster(course: Course, path: Path, fmt: str | None = None, *, show: bool = True) -> RosterImport:
    """Import (or re-import) the roster at ``path`` into the course gradebook.

    Raises RosterError, with every problem and its line, before touching the
    gradebook. The roster file is only read.
    """
    fmt, entries, header = read_roster(path, fmt)
    from nbgrader.api import MissingEntry

    result = RosterImport(format=fmt, kept_aside=[h for h in header if h and h not in _in_gradebook(fmt, header)])
    wanted = {e.student_id for e in entries}
    with open_gradebook(course.db_url) as gb:
        for entry in entries:
            values = {"first_name": entry.first_name, "last_name": entry.last_name, "email": entry.email,
                      "lms_user_id": entry.lms_user_id}
            try:
                student = gb.find_student(entry.student_id)
            except MissingEntry:
                gb.add_student(entry.student_id, **values)
                result.added.append(entry.student_id)
                continue
            if all(getattr(student, k) == v for k, v in values.items()):
                result.unchanged.append(entry.student_id)
            else:
                gb.update_or_create_student(entry.student_id, **values)
                result.updated.append(entry.student_id)
        result.not_in_file = sorted(s.id for s in gb.students if s.id not in wanted)
    lms = load_lms_roster(course)
    lms.update({e.student_id: {"format": fmt, "columns": e.columns} for e in entries})
    target = lms_roster_path(course)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(json.dumps(lms, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(partial, target)
    if show:
        _print_summary(path, result)
    return result


def _print_summary(path: Path, result: RosterImport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Roster {path.name} ({result.format} format)")
    table.add_column("change")
    table.add_column("students", justify="right")
    table.add_column("ids")
    for label, ids in (("added", result.added), ("updated", result.updated),
                       ("unchanged", result.unchanged),
                       ("in gradebook, not in file (kept)", result.not_in_file)):
        shown = ", ".join(ids[:8]) + (f", … (+{len(ids) - 8})" if len(ids) > 8 else "")
        table.add_row(label, str(len(ids)), shown)
    console = Console()
    console.print(table)
    if result.kept_aside:
        console.print(f"columns kept for the LMS exports (in .autograder/lms_roster.json, not in the gradebook): "
                      f"{', '.join(result.kept_aside)}")
