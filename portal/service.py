"""What the portal does for a person, as functions of the course (no web framework here).

Contract:

* Uploads are stored exactly as ``autograder collect`` stores an LMS download: the portal writes
  the upload into a private staging folder named ``<student>_portal/`` with the *server's* time as
  the file time and calls :func:`autograder.collect.collect` on it, so the submission lands in
  ``submitted/<student>/<assignment>/`` with ``timestamp.txt``, the previous one archived, nothing
  overwritten.
* For the competition's assignment a submission is the notebook plus ``submission.csv``. A student
  may upload either; the other file is carried over from their current submission. The first upload
  must contain the notebook (the notebook is what makes the CSV).
* Bad input is refused before anything is stored, with a message that says what to fix: a file
  over the size cap, a notebook that is not a notebook (the parse error's line and column, or JSON
  nested too deeply to parse), a CSV that is not text.
* Scoring a CSV runs the leaderboard's own ``score`` on the course, so the daily limit, the
  deduplication by content and the flags are the CLI's; the student's newest row is returned.
* This module never imports torch: grading happens in the worker (``portal.worker``).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder.collect import collect
from coursebase.layout import Course, CourseError
from coursebase.policy import Policy, load_policy

MAX_NOTEBOOK_BYTES = 8 * 1024 * 1024
MAX_CSV_BYTES = 16 * 1024 * 1024
CSV_NAME = "submission.csv"


class PortalError(ValueError):
    """A refusal a person can act on; the message says what and how."""


@dataclass(frozen=True)
class AssignmentInfo:
    name: str
    notebook: str                  # released notebook file name
    due: dt.datetime | None
    competition: bool


def assignments(course: Course, policy: Policy) -> list[AssignmentInfo]:
    out = []
    for name in course.assignments():
        try:
            notebook = course.release_notebook(name).name
        except CourseError:
            continue
        if not (course.release / name / notebook).is_file():
            continue
        out.append(AssignmentInfo(name, notebook, policy.due.get(name), name == policy.leaderboard.assignment))
    return out


def check_notebook(data: bytes) -> None:
    """Refuse what cannot be a notebook, with the parser's own position."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise PortalError(f"the notebook is {len(data) // 1024} KB; the limit is "
                          f"{MAX_NOTEBOOK_BYTES // 1024 // 1024} MB. Clear large outputs "
                          f"(Kernel > Restart & Clear Output) and upload again.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PortalError(f"the file is not UTF-8 text (byte {exc.start}); upload the .ipynb file "
                          f"Jupyter saved, not a PDF or an archive.") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PortalError(f"the notebook is not valid JSON: {exc.msg} at line {exc.lineno}, column "
                          f"{exc.colno}. Open it in Jupyter, save it, and upload the saved file.") from None
    except RecursionError:          # [[[[... nested deeper than the parser's stack
        raise PortalError("the notebook's JSON is nested too deeply to be a Jupyter notebook; upload the "
                          ".ipynb file Jupyter saved.") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise PortalError("the file is JSON but not a Jupyter notebook (it has no list of cells).")


def check_csv(data: bytes) -> None:
    if len(data) > MAX_CSV_BYTES:
        raise PortalError(f"submission.csv is {len(data) // 1024} KB; the limit is "
                          f"{MAX_CSV_BYTES // 1024 // 1024} MB.")
    if b"\x00" in data[:65536]:
        raise PortalError("submission.csv contains NUL bytes: it is not a text CSV file.")


def _current_file(course: Course, student: str, assignment: str, name: str) -> Path | None:
    folder = course.submission_dir(student, assignment)
    path = folder / name
    if path.is_symlink() or not path.is_file():
        return None
    return path


def _same_as_current(course: Course, student: str, assignment: str, entry: Path) -> bool:
    current = course.submission_dir(student, assignment)
    if not current.is_dir():
        return False
    theirs = {p.name for p in current.iterdir() if p.name != "timestamp.txt"}
    ours = {p.name for p in entry.iterdir()}
    if theirs != ours:
        return False
    for path in entry.iterdir():
        other = _current_file(course, student, assignment, path.name)
        if other is None or other.read_bytes() != path.read_bytes():
            return False
    return True


def store_upload(course: Course, student: str, assignment: str, *, notebook: bytes | None = None,
                 csv: bytes | None = None, now: dt.datetime | None = None) -> bool:
    """Store one upload as a new submission; returns False when it equals the current one."""
    policy = load_policy(course.root)
    names = {a.name: a for a in assignments(course, policy)}
    if assignment not in names:
        raise PortalError(f"there is no released assignment {assignment!r}.")
    info = names[assignment]
    if notebook is None and csv is None:
        raise PortalError("choose a file to upload.")
    if csv is not None and not info.competition:
        raise PortalError(f"{assignment} takes no submission.csv; only "
                          f"{policy.leaderboard.assignment} does.")
    if notebook is not None:
        check_notebook(notebook)
    if csv is not None:
        check_csv(csv)
    when = (now or dt.datetime.now(dt.timezone.utc)).timestamp()
    with tempfile.TemporaryDirectory(prefix="portal-upload-") as tmp:
        entry = Path(tmp) / f"{student}_portal"
        entry.mkdir()
        nb_path = entry / info.notebook
        if notebook is not None:
            nb_path.write_bytes(notebook)
        else:
            current = _current_file(course, student, assignment, info.notebook)
            if current is None:
                raise PortalError("upload your notebook together with your first submission.csv "
                                  "(the notebook is what makes the file).")
            shutil.copyfile(current, nb_path)
        if info.competition:
            if csv is not None:
                (entry / CSV_NAME).write_bytes(csv)
            else:
                current_csv = _current_file(course, student, assignment, CSV_NAME)
                if current_csv is not None:
                    shutil.copyfile(current_csv, entry / CSV_NAME)
        if _same_as_current(course, student, assignment, entry):
            return False          # an identical re-upload keeps the first hand-in time
        for path in entry.iterdir():
            os.utime(path, (when, when))
        summary = collect(course, assignment, Path(tmp), show=False)
    if summary.skipped:
        raise PortalError("; ".join(s.reason for s in summary.skipped))
    return bool(summary.collected)


def score_csv(course: Course, student: str):
    """Run the leaderboard on the course; return the student's newest CSV row (or None)."""
    from leaderboard import api

    api.score(course.root, write_reports_to_disk=False)   # reports are written by `leaderboard score`
    rows = api.student_submissions(course.root, student)
    return max(rows, key=lambda r: (r.submitted_at, r.id or 0)) if rows else None


def daily_left(policy: Policy, rows, today: dt.date) -> int:
    from leaderboard.records import CsvStatus  # rows are the leaderboard's: it is loaded already

    used = sum(1 for r in rows if r.submitted_at.date() == today and r.status == CsvStatus.SCORED)
    return max(0, policy.leaderboard.daily_limit - used)
