"""`autograder review`: every submission that needs a look, with what was seen.

Lists each (student, assignment) whose newest status is not ``graded`` or that
carries any flag (late and override included). Rostered students with nothing
submitted (``missing``) are counted, not listed: they are in the export.
"""
from __future__ import annotations

import io

from autograder.export import grade_rows
from coursebase.layout import Course
from coursebase.vocabulary import Status


def review_rows(course: Course) -> list:
    """The grade rows that need a look: status neither ``graded`` nor ``missing``, or any flag."""
    if not course.gradebook_path.exists():
        return []
    return [r for r in grade_rows(course) if r.status not in (Status.GRADED, Status.MISSING) or r.flags]


def review(course: Course, *, show: bool = True) -> int:
    """Print every submission that needs a look: status not ``graded``, or any flag.

    Rostered students with nothing submitted (``missing``) are counted, not listed:
    they are in the export. Returns the exit code: 1 when anything is listed, else 0.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table


    console = Console() if show else Console(file=io.StringIO())
    if not course.gradebook_path.exists():
        console.print(f"no gradebook at {course.gradebook_path}: nothing to review")
        return 0
    rows = grade_rows(course)
    todo = [r for r in rows if r.status not in (Status.GRADED, Status.MISSING) or r.flags]
    missing = sum(r.status is Status.MISSING for r in rows)

    table = Table(title="submissions to review")
    for column in ("student", "assignment", "status", "flags", "score", "what was seen"):
        table.add_column(column)
    for row in todo:
        score = "—" if row.score is None else f"{row.score:g} / {row.max_score:g}"
        seen = []
        if row.record is not None and row.record.message:
            seen.append(row.record.message)
        elif row.status is not Status.GRADED:
            seen.append(row.message)
        seen += [f"{flag}: {what}" if what else flag for flag, what in row.flags.items()]
        table.add_row(escape(row.student_id), escape(row.assignment), row.status.value,
                      escape(", ".join(row.flags)), score, escape("\n".join(seen)))
    if todo:
        console.print(table)
    else:
        console.print("nothing to review: every submission is graded and unflagged")
    console.print(f"{len(todo)} to review; {missing} missing (rostered, nothing submitted)")
    return 1 if todo else 0
