"""`autograder export [--out grades.csv]`: one row per (rostered student, assignment).

It also writes a Gradescope-style ``exports/results/<assignment>/<student>/results.json``
per submission (:mod:`autograder.lms`).

This module also owns :func:`grade_rows`, the one place that joins what the
other steps left behind into a :class:`GradeRow`; ``export``, ``review`` and
``feedback`` all read it, so a status, a flag or a penalty means the same
thing everywhere. Sources, in order of authority:

* nbgrader's gradebook: the roster (its students), the assignments and their
  graded cells, submission times, and each cell's score by nbgrader's rule
  (``manual_score`` if set, else ``auto_score``, plus ``extra_credit``);
* the newest run record per (student, assignment) (``.autograder/records.jsonl``):
  status, flags with what was seen, message;
* ``.autograder/overrides.jsonl``: why a manual score was set;
* course.toml: due dates, extensions and the late policy, priced by
  :func:`coursebase.late.price_lateness`.

Status without a run record: a gradebook submission counts as ``graded``
(graded by nbgrader itself, the message says so); a collected notebook that
was never graded is ``failed`` with "not graded yet"; nothing at all is
``missing``. ``missing`` and ``failed`` rows leave every score column empty,
never 0.0, so a spreadsheet cannot mistake them for a real zero; ``timeout``
and ``crashed`` keep the scores of the cells that ran.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

from autograder.engine.results import RunResult
from autograder.gradebook import cell_score as _cell_score
from autograder.gradebook import open_gradebook
from autograder.override import Override, latest_overrides
from autograder.records import load_latest_records
from coursebase.files import write_atomic
from coursebase.late import Lateness, price_lateness
from coursebase.late import describe as describe_lateness
from coursebase.layout import Course, CourseError
from coursebase.policy import load_policy
from coursebase.submission import time_of
from coursebase.vocabulary import Flag, Status

UTC = dt.timezone.utc
FIXED_COLUMNS = ["student_id", "assignment", "status", "flags", "raw_score",
                 "late_submission_penalty", "score", "max_score", "message"]


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of one row, as the gradebook scores it."""
    grade_id: str
    notebook: str
    max_score: float
    score: float | None           # None: no score (not graded, or waiting for a manual grade)
    auto_score: float | None
    manual_score: float | None
    override_reason: str | None   # set when the manual score is an instructor's override


@dataclass
class GradeRow:
    """Everything known about one student's work on one assignment."""
    student_id: str
    student_name: str
    assignment: str
    status: Status
    flags: dict[Flag, str]        # flag -> what was seen, in a stable order
    raw_score: float | None       # None for missing and failed work
    lateness: Lateness
    max_score: float
    message: str
    cells: list[CellGrade] = field(default_factory=list)
    submitted_at: dt.datetime | None = None
    due: dt.datetime | None = None
    record: RunResult | None = None

    @property
    def late_penalty(self) -> float | None:
        return None if self.raw_score is None else self.lateness.penalty

    @property
    def score(self) -> float | None:
        if self.raw_score is None:
            return None
        return round(max(self.raw_score - self.lateness.penalty, 0.0), 6)

    @property
    def overrides(self) -> list[CellGrade]:
        return [c for c in self.cells if c.override_reason is not None]


@dataclass
class ExportResult:
    path: Path
    rows: list[GradeRow]
    cell_columns: list[str]


def _aware(when: dt.datetime | None) -> dt.datetime | None:
    # nbgrader stores naive UTC datetimes
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _add(total: float | None, value: float | None) -> float | None:
    return total if value is None else (value if total is None else total + value)


def _override_reason(auto: float | None, manual: float | None, logged: Override | None) -> str | None:
    """Why a manual score is there, or None when it is ordinary manual grading.

    A manual score on a cell the autograder could not score (auto_score None:
    a written answer) is the formgrader's normal job, not an override, unless
    it came through `autograder override`.
    """
    if manual is None:
        return None
    if logged is not None and abs(logged.points - manual) < 1e-9:
        return logged.reason
    if auto is None:
        return None
    return "manual score set outside `autograder override` (e.g. in the formgrader); no reason recorded"


def _graded_cells(assignment) -> list[tuple[str, str, float]]:
    """(notebook, grade_id, max_score) of every graded cell, in notebook order."""
    cells = []
    for notebook in sorted(assignment.notebooks, key=lambda n: n.name):
        for cell in list(notebook.grade_cells) + list(notebook.task_cells):
            cells.append((notebook.name, cell.name, float(cell.max_score)))
    return cells


def grades_by_submission(gb, assignment: str) -> dict[str, dict[tuple[str, str], tuple]]:
    """student -> (notebook, grade_id) -> (auto, manual, extra), in one query."""
    from nbgrader.api import Assignment, BaseCell, Grade, Notebook, SubmittedAssignment, SubmittedNotebook

    query = (gb.db.query(SubmittedAssignment.student_id, Notebook.name, BaseCell.name,
                         Grade.auto_score, Grade.manual_score, Grade.extra_credit)
             .select_from(Grade)
             .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
             .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
             .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
             .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
             .join(BaseCell, Grade.cell_id == BaseCell.id)
             .filter(Assignment.name == assignment))
    grades: dict[str, dict[tuple[str, str], tuple]] = {}
    for student, notebook, cell, auto, manual, extra in query:
        grades.setdefault(student, {})[(notebook, cell)] = (auto, manual, extra)
    return grades


def foreign_scores(record: RunResult | None, grades: dict[tuple[str, str], tuple] | None,
                   cells: list[tuple[str, str, float]]) -> str:
    """What in the gradebook's auto scores the autograder did not write, in words; "" when nothing (pure).

    ``grades``: (notebook, grade_id) -> (auto, manual, extra) of one submission, None when the
    gradebook has no submission. Manual scores are the formgrader's and `override`'s business
    (the ``override`` flag); auto scores are only ever written by `autograder grade`, so one that
    differs from the newest run record was written by something else (e.g. nbgrader's own autograde).
    """
    if grades is None:
        return ""
    if record is None:
        if any(auto is not None for auto, _, _ in grades.values()):
            return ("scores in the gradebook were not written by the autograder (no run record; e.g. nbgrader's "
                    "own autograde): run `autograder grade` to grade this submission")
        return ""
    ours = {c.grade_id: c.score for c in record.cells}
    differ = []
    for notebook, grade_id, _ in cells:
        auto = grades.get((notebook, grade_id), (None, None, None))[0]
        mine = ours.get(grade_id)
        if grade_id in ours and not (auto is None and mine is None) and (
                auto is None or mine is None or abs(float(auto) - float(mine)) > 1e-9):
            differ.append(f"{grade_id} is {_shown_score(auto)} in the gradebook, {_shown_score(mine)} in our run")
    if not differ:
        return ""
    return ("gradebook auto scores not written by the autograder (e.g. nbgrader's own autograde): "
            + "; ".join(differ) + f"; `autograder grade {record.assignment}` restores them")


def _shown_score(value: float | None) -> str:
    return "empty" if value is None else f"{float(value):g}"


def _submission_time(course: Course, student: str, assignment: str,
                     gradebook_time: dt.datetime | None) -> dt.datetime | None:
    if gradebook_time is not None:
        return _aware(gradebook_time)
    return time_of(course.submission_dir(student, assignment))


def _ordered_flags(record_flags: dict[Flag, str], extra: dict[Flag, str]) -> dict[Flag, str]:
    flags = dict(record_flags)
    for name, seen in extra.items():
        if name == Flag.LATE:
            flags[name] = seen  # priced here with overrides included: it replaces the record's
        else:
            flags[name] = f"{flags[name]}; {seen}" if name in flags else seen
    return flags


def grade_rows(course: Course, assignments: list[str] | None = None,
               students: list[str] | None = None) -> list[GradeRow]:
    """One GradeRow per (gradebook student, gradebook assignment), sorted by both.

    ``assignments`` / ``students`` narrow the result; a name the gradebook does not
    know raises CourseError naming the known ones. Reads only.
    """
    policy = load_policy(course.root)
    records = load_latest_records(course.records)
    logged = latest_overrides(course)
    rows: list[GradeRow] = []
    with open_gradebook(course.db_url) as gb:
        from nbgrader.api import Assignment, SubmittedAssignment

        known_assignments = {a.name: a for a in gb.assignments}
        wanted = sorted(known_assignments) if assignments is None else list(assignments)
        for name in wanted:
            if name not in known_assignments:
                raise CourseError(f"assignment {name!r} is not in the gradebook {course.gradebook_path}; "
                                  f"known: {', '.join(sorted(known_assignments)) or 'none'}. "
                                  f"Run `autograder release {name}` first.")
        roster = {s.id: s for s in gb.students}
        if students is not None:
            unknown = [s for s in students if s not in roster]
            if unknown:
                raise CourseError(f"not in the gradebook: {', '.join(unknown)}; import the roster "
                                  f"or collect their submissions first")
            roster = {s: roster[s] for s in students}

        for name in wanted:
            cells = _graded_cells(known_assignments[name])
            max_score = float(sum(m for _, _, m in cells))
            grades = grades_by_submission(gb, name)
            times = dict(gb.db.query(SubmittedAssignment.student_id, SubmittedAssignment.timestamp)
                         .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                         .filter(Assignment.name == name))
            for student_id in sorted(roster):
                student = roster[student_id]
                full_name = " ".join(p for p in (student.first_name, student.last_name) if p)
                rows.append(_row(course, policy, student_id, full_name, name, cells, max_score,
                                 grades.get(student_id), student_id in times, times.get(student_id),
                                 records.get((student_id, name)), logged))
    return rows


def _row(course, policy, student_id, full_name, assignment, cells, max_score, grades,
         in_gradebook, gradebook_time, record, logged) -> GradeRow:
    due = policy.due_for(student_id, assignment)
    base = dict(student_id=student_id, student_name=full_name, assignment=assignment,
                lateness=Lateness.on_time(), max_score=max_score, due=due, record=record)
    empty_cells = [CellGrade(g, nb, m, None, None, None, None) for nb, g, m in cells]
    notebook_there = course.submission_dir(student_id, assignment).is_dir()

    if record is None and not in_gradebook:
        if notebook_there:
            return GradeRow(status=Status.FAILED, flags={}, raw_score=None, cells=empty_cells,
                            submitted_at=_submission_time(course, student_id, assignment, None),
                            message=f"collected but not graded yet: run `autograder grade {assignment}`",
                            **base)
        return GradeRow(status=Status.MISSING, flags={}, raw_score=None, cells=empty_cells,
                        message="nothing submitted", **base)
    if record is not None and record.status == Status.MISSING:
        return GradeRow(status=Status.MISSING, flags=dict(record.flags), raw_score=None,
                        cells=empty_cells, message=record.message or "nothing submitted", **base)

    status = record.status if record is not None else Status.GRADED
    messages = [record.message] if record is not None and record.message else []
    foreign = foreign_scores(record, grades, cells)
    if record is None:
        messages.append("graded outside the autograder (no run record)")
    submitted_at = _submission_time(course, student_id, assignment, gradebook_time)

    if status == Status.FAILED:
        return GradeRow(status=status, flags=dict(record.flags), raw_score=None, cells=empty_cells,
                        submitted_at=submitted_at, message="; ".join(messages) or "could not be graded",
                        **base)

    # Scores: the gradebook when it has the submission, else the record's cells.
    from_record = {c.grade_id: (c.score, None, None) for c in (record.cells if record else [])}
    graded: list[CellGrade] = []
    raw: float | None = None
    waiting = []
    for notebook, grade_id, cell_max in cells:
        if grades is not None:
            auto, manual, extra = grades.get((notebook, grade_id), (None, None, None))
        else:
            auto, manual, extra = from_record.get(grade_id, (None, None, None))
        score = _cell_score(auto, manual, extra)
        reason = _override_reason(auto, manual, logged.get((student_id, assignment, grade_id)))
        if score is None:
            waiting.append(grade_id)
        graded.append(CellGrade(grade_id, notebook, cell_max, score, auto, manual, reason))
        raw = _add(raw, score)
    raw = round(raw or 0.0, 6)
    if waiting:
        messages.append(f"waiting for a manual grade: {', '.join(waiting)}")

    extra_flags: dict[Flag, str] = {}
    lateness = Lateness.on_time()
    if submitted_at is None:
        messages.append("submission time unknown: lateness not priced")
    else:
        lateness = price_lateness(submitted_at, due, policy.late, max_score, raw)
    if lateness.late:
        extra_flags[Flag.LATE] = describe_lateness(lateness, due)
    overridden = [c for c in graded if c.override_reason is not None]
    if overridden:
        extra_flags[Flag.OVERRIDE] = "; ".join(
            f"{c.grade_id} = {c.manual_score:g}: {c.override_reason}" for c in overridden)
        messages.extend(f"override {c.grade_id} = {c.manual_score:g} ({c.override_reason})" for c in overridden)
    if lateness.late:
        messages.append(extra_flags[Flag.LATE])
    if foreign:
        extra_flags[Flag.TAMPERED] = foreign
        messages.append(foreign)
    base["lateness"] = lateness
    return GradeRow(status=status, flags=_ordered_flags(record.flags if record else {}, extra_flags),
                    raw_score=raw, cells=graded, submitted_at=submitted_at,
                    message="; ".join(messages), **base)


# ---------------------------------------------------------------- the file

def _number(value: float | None) -> str:
    return "" if value is None else repr(round(float(value), 6))


def cell_column(assignment: str, grade_id: str) -> str:
    return f"{assignment}:{grade_id}"


def render_csv(rows: list[GradeRow]) -> tuple[str, list[str]]:
    """The grades CSV text and its per-cell column names (pure)."""
    cell_columns: list[str] = []
    for row in rows:
        for cell in row.cells:
            column = cell_column(row.assignment, cell.grade_id)
            if column not in cell_columns:
                cell_columns.append(column)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIXED_COLUMNS + cell_columns)
    for row in rows:
        values = {cell_column(row.assignment, c.grade_id): _number(c.score) for c in row.cells}
        writer.writerow([row.student_id, row.assignment, row.status.value, ";".join(row.flags),
                         _number(row.raw_score), _number(row.late_penalty), _number(row.score),
                         _number(row.max_score), row.message]
                        + [values.get(c, "") for c in cell_columns])
    return out.getvalue(), cell_columns


def export(course: Course, out: Path | None = None, *, show: bool = True) -> ExportResult:
    """Write the grades CSV (default ``<course>/exports/grades.csv``) and print a summary.

    The file is written whole to a temporary name and renamed, so a reader never
    sees half of it. Raises CourseError when the course has no gradebook yet.
    """
    if not course.gradebook_path.exists():
        raise CourseError(f"no gradebook at {course.gradebook_path}: release the assignments and "
                          f"import the roster first")
    rows = grade_rows(course)
    text, cell_columns = render_csv(rows)
    path = Path(out) if out is not None else course.exports / "grades.csv"
    write_atomic(path, text)
    from autograder.lms import write_results

    results = write_results(course, rows)
    if show:
        print_summary(rows, path)
        if results:
            print(f"{len(results)} Gradescope-style results.json in {course.exports / 'results'}/<assignment>/<student>/")
    return ExportResult(path, rows, cell_columns)


def print_summary(rows: list[GradeRow], path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    statuses = list(Status)
    table = Table(title="grades")
    table.add_column("assignment")
    for status in statuses:
        table.add_column(str(status), justify="right")
    table.add_column("flagged", justify="right")
    table.add_column("mean score", justify="right")
    for assignment in sorted({r.assignment for r in rows}):
        mine = [r for r in rows if r.assignment == assignment]
        scored = [r.score for r in mine if r.score is not None]
        mean = f"{sum(scored) / len(scored):.2f} / {mine[0].max_score:g}" if scored else "—"
        table.add_row(assignment, *[str(sum(r.status == s for r in mine)) for s in statuses],
                      str(sum(bool(r.flags) for r in mine)), mean)
    console = Console()
    console.print(table)
    console.print(f"{len(rows)} rows written to {path}")
