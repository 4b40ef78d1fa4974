"""`autograder students import ROSTER.csv`: the roster into nbgrader's gradebook.

The gradebook's students *are* the roster: ``export`` marks a rostered student
with nothing submitted as ``missing``. The CSV needs a ``student_id`` (or ``id``)
column; ``first_name``, ``last_name`` and ``email`` are optional; header names are
case-insensitive and other columns are ignored. Comma, semicolon and tab
delimiters are recognised (spreadsheet exports in a Russian locale use ``;``).

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
import re
from dataclasses import dataclass, field
from pathlib import Path

from .course import Course, CourseError
from .gradebook import open_gradebook

# A student id becomes a folder name under submitted/ and feedback/.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
ID_HEADERS = ("student_id", "id")
NAME_FIELDS = ("first_name", "last_name", "email")


class RosterError(CourseError):
    """The roster file cannot be imported; the message lists every problem."""


@dataclass(frozen=True)
class RosterEntry:
    student_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    line: int


@dataclass
class RosterImport:
    """What an import changed in the gradebook."""
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_in_file: list[str] = field(default_factory=list)   # in the gradebook, kept


def _normalise_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def parse_roster(text: str, source: str = "roster") -> list[RosterEntry]:
    """Parse roster CSV text into entries, or raise RosterError listing every problem.

    ``source`` names the file in messages. Blank lines are skipped. Line numbers
    are the file's own (the header is line 1).
    """
    if not text.strip():
        raise RosterError(f"{source}: the file is empty; it needs a header line with student_id "
                          f"(or id), first_name, last_name, email and one line per student")
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [_normalise_header(h) for h in next(reader)]
    id_col = next((header.index(h) for h in ID_HEADERS if h in header), None)
    if id_col is None:
        raise RosterError(
            f"{source}: line 1 (header) has no student_id or id column; found columns: "
            f"{', '.join(header) or 'none'}. Rename the column holding student ids to student_id.")
    columns = {name: header.index(name) for name in NAME_FIELDS if name in header}

    entries: list[RosterEntry] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    line = 1
    for row in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue

        def cell(index: int | None) -> str | None:
            if index is None or index >= len(row):
                return None
            return row[index].strip() or None

        student_id = cell(id_col)
        email = cell(columns.get("email"))
        bad = False
        if student_id is None:
            problems.append(f"line {start}: no student id")
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
        if not bad:
            entries.append(RosterEntry(student_id, cell(columns.get("first_name")),
                                       cell(columns.get("last_name")), email, start))
    if problems:
        raise RosterError(f"{source}: {len(problems)} problem(s); nothing was imported. "
                          f"Fix these lines and import again:\n  " + "\n  ".join(problems))
    if not entries:
        raise RosterError(f"{source}: the header is there but no student lines follow; nothing was imported")
    return entries


def read_roster(path: Path) -> list[RosterEntry]:
    """Read and parse a roster file; RosterError names the file and what is wrong."""
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
    return parse_roster(text, str(path))


def import_roster(course: Course, path: Path) -> RosterImport:
    """Import (or re-import) the roster at ``path`` into the course gradebook.

    Raises RosterError, with every problem and its line, before touching the
    gradebook. The roster file is only read.
    """
    entries = read_roster(path)
    from nbgrader.api import MissingEntry

    result = RosterImport()
    wanted = {e.student_id for e in entries}
    with open_gradebook(course.db_url) as gb:
        for entry in entries:
            values = {"first_name": entry.first_name, "last_name": entry.last_name, "email": entry.email}
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
    _print_summary(path, result)
    return result


def _print_summary(path: Path, result: RosterImport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Roster {path.name}")
    table.add_column("change")
    table.add_column("students", justify="right")
    table.add_column("ids")
    for label, ids in (("added", result.added), ("updated", result.updated),
                       ("unchanged", result.unchanged),
                       ("in gradebook, not in file (kept)", result.not_in_file)):
        shown = ", ".join(ids[:8]) + (f", … (+{len(ids) - 8})" if len(ids) > 8 else "")
        table.add_row(label, str(len(ids)), shown)
    Console().print(table)
