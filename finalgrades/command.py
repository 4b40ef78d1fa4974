"""`autograder grades [--out FILE]`: final grades from every notebook and the leaderboard.

The command's two edges, around the pure core of :mod:`finalgrades.combine`:

* in, :func:`collect_grades` (read-only): notebook rows from
  :func:`autograder.export.grade_rows` (so the numbers agree with
  ``autograder export``), the leaderboard from :func:`leaderboard.api.final_results`,
  the weights from ``course.toml``;
* out, :func:`final_grades`: ``exports/final_grades.csv`` (or ``--out``) and the
  self-contained HTML course report ``reports/course_report.html``
  (:mod:`finalgrades.report`), the LMS import files of :mod:`autograder.lms`
  (``canvas_grades.csv``, ``moodle_grades.csv``, ``final_statuses.csv``), and the
  table in the terminal.

The gradebook, run records and leaderboard database are read, never changed.
Without a gradebook, or with ``[weights]`` naming an assignment the gradebook
does not know, it raises :class:`coursebase.layout.CourseError` saying what to do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from coursebase.files import write_atomic
from coursebase.layout import Course, CourseError
from coursebase.policy import load_policy
from finalgrades.combine import LEADERBOARD, FinalGrade, combine_course
from finalgrades.report import LEGEND, render_csv, render_report, table


@dataclass
class FinalGradesResult:
    csv: Path
    report: Path
    grades: list[FinalGrade]
    names: list[str]
    notes: list[str] = field(default_factory=list)
    lms: dict[str, Path] = field(default_factory=dict)   # canvas, moodle, statuses: see autograder/lms.py


def collect_grades(course: Course) -> tuple[list[FinalGrade], list[str], list[str]]:
    """(final grades per rostered student, component names, notes) from the course's stores (read-only)."""
    from autograder.export import grade_rows
    from leaderboard.api import final_results

    if not course.gradebook_path.exists():
        raise CourseError(f"no gradebook at {course.gradebook_path}: release the assignments, import the roster "
                          f"and grade before computing final grades")
    policy = load_policy(course.root)
    rows = grade_rows(course)
    board = final_results(course.root) if LEADERBOARD in policy.weights else {}
    return combine_course(rows, board, policy.weights, policy.leaderboard.max_points,
                          policy.source or course.root / "course.toml")


def final_grades(course: Course, out: Path | None = None, *, console=None, show: bool = True) -> FinalGradesResult:
    """Write ``exports/final_grades.csv`` (or ``out``), ``reports/course_report.html`` and the LMS files;
    print the table unless ``show`` is False."""
    from autograder.lms import write_lms_files

    grades, names, notes = collect_grades(course)
    policy = load_policy(course.root)
    csv_path = Path(out) if out is not None else course.exports / "final_grades.csv"
    write_atomic(csv_path, render_csv(grades, names))
    report = course.reports / "course_report.html"
    write_atomic(report, render_report(course, grades, names, policy))
    result = FinalGradesResult(csv_path, report, grades, names, notes, write_lms_files(course, grades, names))
    if show:
        print_result(result, policy.weights, console)
    return result


def print_result(result: FinalGradesResult, weights, console=None) -> None:
    """The table, the notes, what the cells mean and where the files are."""
    from rich.console import Console
    from rich.markup import escape

    console = console or Console()
    console.print(table(result.grades, result.names, weights))
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    console.print(LEGEND, soft_wrap=True)
    console.print(f"final grades: {result.csv}\ncourse report: {result.report}", soft_wrap=True)
    if result.lms:
        console.print("LMS import files: " + ", ".join(str(p) for p in result.lms.values()), soft_wrap=True)
