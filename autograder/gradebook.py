"""Writes run results into nbgrader's gradebook, one submission per transaction.

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

from .records import RunResult


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


def write_result(gb, result: RunResult, notebook: str, timestamp: dt.datetime | None) -> None:
    """Store every graded cell's auto score of one submission, atomically."""
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
