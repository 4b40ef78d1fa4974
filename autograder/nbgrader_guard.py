"""Keeps nbgrader's own ``autograde`` out of a course graded by the autograder.

nbgrader's autograde runs the tests inside the student's own Python process,
where a submission can rewrite its own verdict (README, *Security*), and it
would overwrite the gradebook scores and ``autograded/`` notebooks the
autograder wrote. The course's ``nbgrader_config.py`` sets
``c.Autograde.exporter_class`` to :class:`RefuseAutograde`, so every route to
it (``nbgrader autograde``, the formgrader's Autograde button, the Python
API) stops with :data:`MESSAGE` before it reads a submission or touches the
gradebook or ``autograded/`` (nbgrader builds the exporter first thing in
``start()``). Everything else of nbgrader (``export``, ``generate_feedback``,
the formgrader's manual grading) is untouched.
"""
from __future__ import annotations

from nbconvert.exporters import NotebookExporter

MESSAGE = ("nbgrader's autograde is switched off in this course: it would run the tests inside the student's "
           "own Python process, where a submission can rewrite its own verdict, and would overwrite the scores "
           "the autograder wrote. Grade with `autograder grade ASSIGNMENT` instead (from the course folder): it "
           "fills the same gradebook and autograded/ notebooks, so the formgrader's manual grading, "
           "`nbgrader export` and `nbgrader generate_feedback` keep working. Nothing was changed.")


class AutogradeRefused(RuntimeError):
    """Raised in place of nbgrader's autograde; the message says why and what to run."""


class RefuseAutograde(NotebookExporter):
    """An exporter nbgrader's Autograde cannot build: it stops before any work, with the reason."""

    def __init__(self, *args, **kwargs):
        parent = kwargs.get("parent")
        log = getattr(parent, "log", None)
        if log is not None:
            log.error(MESSAGE)
        try:
            from nbgrader.converters.base import NbGraderException
        except ImportError:  # pragma: no cover - nbgrader is what loads this class
            raise AutogradeRefused(MESSAGE) from None
        raise NbGraderException(MESSAGE)
