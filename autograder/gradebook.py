"""nbgrader's gradebook: where it is, and writing run results into it, one submission per transaction.

Where: :func:`coursebase.layout.configured_gradebook` reads ``c.CourseDirectory.db_url`` from
the course's ``nbgrader_config.py`` (the one place it is set; nbgrader's own
commands and the formgrader read the same file). A relative SQLite path is
relative to the course folder, so a copied course uses its own gradebook;
without a setting it is ``<course>/gradebook.db``, nbgrader's default.

What a stored submission holds, as nbgrader's ``autograde`` would leave it:
the submission row with its timestamp, every graded cell's ``auto_score``,
the solution cells' ``auto_comment`` ("No response." for an untouched
answer), the assignment's due date, the student's extension and the
notebook's ``late_submission_penalty`` (priced by :mod:`coursebase.late`, on
the gradebook's score with manual grades included). So ``nbgrader export``,
the formgrader and ``autograder export`` show the same scores and penalties.

nbgrader's ``add_submission`` commits by itself; here its commits are turned
into flushes for the duration of one submission, so the submission row, its
notebook and every grade land together or not at all. ``manual_score`` is
never touched: overrides and hand grades survive regrades.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
from contextlib import contextmanager

from autograder.engine.results import RunResult


def ensure_alembic_on_path() -> None:
    """nbgrader runs ``alembic`` from PATH when it creates a gradebook."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


@contextmanager
def open_gradebook(db_url: str):
    from nbgrader.api import Gradebook

    ensure_alembic_on_path()
    gb = Gradebook(db_url)
    try:
        yield gb
    finally:
        gb.close()


@contextmanager
def _one_transaction(gb):
    import warnings

    from sqlalchemy.exc import SAWarning

    # nbgrader builds a submission's rows before adding them to the session; the autoflush
    # warnings that produces (nbgrader's own autograde prints them too) are noise here
    warnings.filterwarnings("ignore", category=SAWarning)
    session = gb.db
    real_commit = session.commit
    session.commit = session.flush
    try:
        yield
    except BaseException:
        session.commit = real_commit
        session.rollback()
        raise
    session.commit = real_commit
    session.commit()


def cell_score(auto: float | None, manual: float | None, extra: float | None) -> float | None:
    """One cell's score by nbgrader's rule: the manual score if set, else the auto score, plus extra credit."""
    base = manual if manual is not None else auto
    if base is None:
        return None
    return base + (extra or 0.0)


def _naive_utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None)


def write_due_dates(gb, due: dict[str, dt.datetime]) -> None:
    """Each assignment's due date from course.toml into the gradebook (None where it has none)."""
    for assignment in gb.assignments:
        wanted = _naive_utc(due[assignment.name]) if assignment.name in due else None
        if assignment.duedate != wanted:
            assignment.duedate = wanted


def write_lateness(gb, assignment: str, student: str, notebook: str, submitted: dt.datetime | None,
                   due: dt.datetime | None, student_due: dt.datetime | None, late_policy) -> float:
    """The student's extension and the notebook's late penalty, priced on the gradebook's score now.

    ``submitted`` None: the gradebook's submission time. Returns the penalty. Does not commit (the caller's transaction does).
    """
    from coursebase.late import price_lateness

    submission = gb.find_submission(assignment, student)
    if submitted is None and submission.timestamp is not None:
        submitted = submission.timestamp.replace(tzinfo=dt.timezone.utc)
    if due is not None and student_due is not None and student_due != due:
        submission.extension = _naive_utc(student_due) - _naive_utc(due)
    else:
        submission.extension = None
    nb = gb.find_submission_notebook(notebook, assignment, student)
    penalty = 0.0
    if submitted is not None:
        raw = sum(cell_score(g.auto_score, g.manual_score, g.extra_credit) or 0.0 for g in nb.grades)
        max_score = sum(float(g.cell.max_score or 0.0) for g in nb.grades)
        penalty = price_lateness(submitted, student_due, late_policy, max_score, max(raw, 0.0)).penalty
    nb.late_submission_penalty = penalty
    return penalty


def refresh_lateness(gb, policy, assignment: str, notebook: str, submitted: dict[str, dt.datetime | None]) -> None:
    """Due dates, extensions and penalties of already graded submissions, re-priced on the gradebook's
    scores now (a manual grade or an override can change what the penalty is capped at), in one transaction."""
    from nbgrader.api import MissingEntry

    with _one_transaction(gb):
        write_due_dates(gb, policy.due)
        for student, when in submitted.items():
            try:
                write_lateness(gb, assignment, student, notebook, when, policy.due.get(assignment),
                               policy.due_for(student, assignment), policy.late)
            except MissingEntry:
                continue


def write_result(gb, result: RunResult, notebook: str, timestamp: dt.datetime | None,
                 policy=None, unanswered: frozenset[str] = frozenset()) -> None:
    """Store one submission atomically: auto scores, comments and (with ``policy``) due dates and lateness.

    ``unanswered``: grade_ids of solution cells the student left as released
    (their ``auto_comment`` becomes nbgrader's "No response.").
    """
    from nbgrader.api import MissingEntry

    with _one_transaction(gb):
        gb.update_or_create_student(result.student_id)
        when = (timestamp or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).replace(tzinfo=None)
        try:
            submission = gb.find_submission(result.assignment, result.student_id)
            submission.timestamp = when
        except MissingEntry:
            gb.add_submission(result.assignment, result.student_id, timestamp=when)
        for cell in result.cells:
            grade = gb.find_grade(cell.grade_id, notebook, result.assignment, result.student_id)
            grade.auto_score = cell.score
            grade.needs_manual_grade = cell.score is None and grade.manual_score is None
        for comment in gb.find_submission_notebook(notebook, result.assignment, result.student_id).comments:
            comment.auto_comment = "No response." if comment.name in unanswered else None
        if policy is not None:
            write_due_dates(gb, policy.due)
            write_lateness(gb, result.assignment, result.student_id, notebook, timestamp,
                           policy.due.get(result.assignment), policy.due_for(result.student_id, result.assignment),
                           policy.late)
