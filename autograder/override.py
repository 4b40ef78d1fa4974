"""`autograder override`: an instructor's score for one cell, with the reason kept.

An override is nbgrader's own manual score: ``Grade.manual_score`` in the
gradebook, which nbgrader (and our export) prefers to ``auto_score``. The grade
step only ever writes ``auto_score``, so an override survives ``--force``
regrades, and nbgrader's formgrader and ``nbgrader export`` see it too. Why it
was set is appended to ``<course>/.autograder/overrides.jsonl`` (one JSON object
per line: student_id, assignment, grade_id, points, reason, at), which export,
review and feedback show next to the ``override`` flag.

``autograder review`` (what needs a look, overrides included) is :mod:`autograder.review`.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from autograder.gradebook import open_gradebook, write_lateness
from coursebase.layout import Course, CourseError
from coursebase.policy import load_policy


class OverrideError(CourseError):
    """The override cannot be applied; nothing was changed."""


@dataclass(frozen=True)
class Override:
    """One line of overrides.jsonl."""
    student_id: str
    assignment: str
    grade_id: str
    points: float
    reason: str
    at: str          # ISO 8601 UTC


def overrides_path(course: Course) -> Path:
    return course.state / "overrides.jsonl"


def load_overrides(course: Course) -> list[Override]:
    """Every override ever applied, oldest first; unreadable lines are skipped."""
    path = overrides_path(course)
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            found.append(Override(str(data["student_id"]), str(data["assignment"]), str(data["grade_id"]),
                                  float(data["points"]), str(data["reason"]), str(data["at"])))
        except (ValueError, KeyError, TypeError):
            continue   # a line cut short by a crash: its gradebook write still shows as an override
    return found


def latest_overrides(course: Course) -> dict[tuple[str, str, str], Override]:
    """The newest override per (student_id, assignment, grade_id)."""
    return {(o.student_id, o.assignment, o.grade_id): o for o in load_overrides(course)}


def override(course: Course, student: str, assignment: str, cell: str, points: float,
             reason: str, *, show: bool = True) -> Override:
    """Set ``points`` as the manual score of ``cell`` (a grade_id) in one submission.

    Checks, before writing anything: a non-empty reason, the student, the
    assignment, the cell among the assignment's graded cells, a submission in the
    gradebook, and 0 <= points <= the cell's max score. Raises OverrideError
    naming what is wrong and what exists. Writes the gradebook, then appends the
    reason to overrides.jsonl.
    """
    from nbgrader.api import MissingEntry

    reason = (reason or "").strip()
    if not reason:
        raise OverrideError("an override needs a reason: add --reason \"why\"; nothing was changed")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points):
        raise OverrideError(f"points must be a number, got {points!r}; nothing was changed")
    if not course.gradebook_path.exists():
        raise OverrideError(f"no gradebook at {course.gradebook_path}; nothing to override")

    with open_gradebook(course.db_url) as gb:
        try:
            gb.find_student(student)
        except MissingEntry:
            raise OverrideError(f"student {student!r} is not in the gradebook; check the id "
                                f"(`autograder export` lists them); nothing was changed") from None
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            known = ", ".join(a.name for a in gb.assignments) or "none"
            raise OverrideError(f"assignment {assignment!r} is not in the gradebook (known: {known}); "
                                f"nothing was changed") from None
        graded = {c.name: (nb.name, float(c.max_score)) for nb in found.notebooks
                  for c in list(nb.grade_cells) + list(nb.task_cells)}
        if cell not in graded:
            known = ", ".join(f"{name} ({m:g} points)" for name, (_, m) in graded.items()) or "none"
            raise OverrideError(f"{assignment} has no graded cell {cell!r}; its graded cells are: {known}. "
                                f"Nothing was changed.")
        notebook, max_score = graded[cell]
        if not 0 <= points <= max_score:
            raise OverrideError(f"{points:g} points is out of range for {assignment}:{cell}, which is "
                                f"worth 0 to {max_score:g}; nothing was changed")
        try:
            grade = gb.find_grade(cell, notebook, assignment, student)
        except MissingEntry:
            raise OverrideError(f"{student} has no submission of {assignment} in the gradebook: collect "
                                f"and grade it first (`autograder grade {assignment} --student {student}`); "
                                f"nothing was changed") from None
        previous = grade.score
        grade.manual_score = float(points)
        grade.needs_manual_grade = False
        gb.db.flush()
        # the late penalty is capped at the score: re-price it on the new score, as export does
        policy = load_policy(course.root)
        write_lateness(gb, assignment, student, notebook, None,
                       policy.due.get(assignment), policy.due_for(student, assignment), policy.late)
        gb.db.commit()

    entry = Override(student, assignment, cell, float(points), reason,
                     dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())
    path = overrides_path(course)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(entry), ensure_ascii=False, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    if show:
        from rich.console import Console
        from rich.markup import escape
        Console().print(f"override {escape(student)} {escape(assignment)}:{escape(cell)}: "
                        f"{previous if previous is None else f'{previous:g}'} → {points:g} "
                        f"of {max_score:g} ({escape(reason)})")
    return entry
