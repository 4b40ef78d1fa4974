"""Final grades, the pure core: notebook scores + leaderboard points + course.toml weights -> final rows.

No I/O here: rows and results come in as data, :class:`FinalGrade` values go out;
the same input always gives the same grades. :func:`combine` weighs one student;
:func:`combine_course` does it for the whole roster and decides which parts are
shown and which count.

Each part counts as a share of its own maximum; the final grade is the weighted
mean of those shares, in percent, rounded to 2 decimals.

Nothing is silently zero. A part with no score (``missing``, ``failed``, or a
leaderboard ``invalid`` / ``over_limit`` / ``missing``) counts as 0 in the total
and says so: the student's message names it, and the reports show its status word
where a number would be. ``timeout`` and ``crashed`` notebooks keep the points of
the cells that ran.

The final status is one word (:class:`FinalStatus`):

* ``review``: some weighted part carries a flag a person must look at (``attack``,
  ``tampered``, ``copy``, ``implausible``); the grade is computed anyway;
* ``incomplete``: some weighted part was not graded in full (any status other
  than ``graded`` for a notebook, ``scored`` for the leaderboard);
* ``complete``: everything graded, nothing flagged.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coursebase.layout import CourseError
from coursebase.vocabulary import REVIEW_FLAGS, Flag, Status, Word
from leaderboard.records import CsvStatus

LEADERBOARD = "leaderboard"
# a part graded in full: every cell of a notebook ran, a leaderboard file was scored.
# Flags that ask a person to look before the grade is final: coursebase.vocabulary.REVIEW_FLAGS
FULL_STATUSES: tuple[Word, ...] = (Status.GRADED, CsvStatus.SCORED)
NO_SCORE_WORDS: dict[Word, str] = {
    Status.MISSING: "nothing submitted",          # the leaderboard's missing is the same word
    Status.FAILED: "could not be graded",
    CsvStatus.INVALID: "no valid submission",
    CsvStatus.OVER_LIMIT: "over the daily limit, not scored",
}


class FinalStatus(Word):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    REVIEW = "review"


@dataclass(frozen=True)
class Component:
    """One graded part of one student's work, as plain data.

    ``score`` is what counts (after any late penalty), ``None`` when there is no
    score at all (missing, failed, invalid...). ``flags`` maps flag name to what
    was seen.
    """
    name: str                          # an assignment, or "leaderboard"
    status: Word                       # a Status (notebook) or CsvStatus (leaderboard) of docs/contracts.md
    score: float | None
    max_score: float
    raw_score: float | None = None     # before the late penalty
    late_penalty: float | None = None
    flags: dict[Flag, str] = field(default_factory=dict)
    message: str = ""
    accuracy: float | None = None      # leaderboard: the private accuracy that decided the points

    @property
    def full(self) -> bool:
        """Graded in full: ``graded`` (a notebook) or ``scored`` (the leaderboard)."""
        return self.status in FULL_STATUSES

    @property
    def to_review(self) -> list[str]:
        """The flags of this part that ask a person to look."""
        return [flag for flag in self.flags if flag in REVIEW_FLAGS]


@dataclass(frozen=True)
class Part:
    """A component weighed: its share of its maximum and what it adds to the final percent."""
    component: Component
    weight: float                      # as written in course.toml
    share: float                       # score / max_score in [0, 1]; 0 without a score
    percent: float                     # contribution to the final grade, in percentage points
    note: str                          # why it is not simply a full share ("" when nothing to say)

    @property
    def counted_as_zero(self) -> bool:
        return self.component.score is None


@dataclass(frozen=True)
class FinalGrade:
    student_id: str
    student_name: str
    parts: tuple[Part, ...]
    percent: float                     # 0..100
    status: FinalStatus
    message: str

    def part(self, name: str) -> Part:
        for part in self.parts:
            if part.component.name == name:
                return part
        raise KeyError(name)


def fmt(value: float) -> str:
    """A number of points as people write it: ``2``, ``2.5``, ``0.3333`` (4 decimals at most)."""
    return f"{round(value, 4):g}"


def remarks(c: Component, name: str, *, short: bool = False) -> list[str]:
    """What is worth saying about a part, each fact once: no score (counted as 0), graded in part,
    late, flagged for review. In full for the message, or in a few words (``short``) for a terminal."""
    out = []
    if c.score is None:
        out.append(f"{name} {c.status} = 0" if short else
                   f"{name} {c.status} ({NO_SCORE_WORDS.get(c.status, 'no score')}): counted as 0")
    elif not c.full:
        out.append(f"{name} {c.status}" if short else
                   f"{name} {c.status}: {fmt(c.score)}/{fmt(c.max_score)} from the cells that ran")
    if c.late_penalty:
        out.append(f"{name} late -{fmt(c.late_penalty)}" if short else f"{name} late: -{fmt(c.late_penalty)} points")
    out.extend(f"{name} {flag}" if short else f"{name} flagged {flag}: review" for flag in c.to_review)
    return out


def combine(student_id: str, student_name: str, components: list[Component],
            weights: Mapping[str, float]) -> FinalGrade:
    """Weigh one student's components into a :class:`FinalGrade` (pure).

    Every key of ``weights`` must name a component (ValueError otherwise, naming
    it); components without a weight are kept with weight 0. Weights must be
    non-negative with a positive sum. Each share is ``score / max_score``
    clipped to [0, 1]; a component without a score, or with a maximum of 0,
    has share 0. ``percent`` is the weighted mean of the shares times 100,
    rounded to 2 decimals.
    """
    by_name = {c.name: c for c in components}
    if len(by_name) != len(components):
        raise ValueError(f"{student_id}: two components have the same name")
    missing = [name for name in weights if name not in by_name]
    if missing:
        raise ValueError(f"{student_id}: weights name {', '.join(missing)}, but there is no such component "
                         f"(components: {', '.join(by_name) or 'none'})")
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must not be negative: {dict(weights)}")
    total = float(sum(weights.values()))
    if total <= 0:
        raise ValueError("the weights add up to 0: nothing would count")

    parts = []
    for component in components:
        weight = float(weights.get(component.name, 0.0))
        if component.score is None or component.max_score <= 0:
            share = 0.0
        else:
            share = min(max(component.score / component.max_score, 0.0), 1.0)
        note = "; ".join(remarks(component, component.name))
        if component.score is not None and component.max_score <= 0:
            note = "; ".join(n for n in (note, f"{component.name} has no points to earn") if n)
        parts.append(Part(component, weight, share, 100.0 * weight * share / total, note))

    weighted = [p for p in parts if p.weight > 0]
    percent = round(sum(p.percent for p in weighted), 2)
    if any(p.component.to_review for p in weighted):
        status = FinalStatus.REVIEW
    elif any(not p.component.full for p in weighted):
        status = FinalStatus.INCOMPLETE
    else:
        status = FinalStatus.COMPLETE
    message = "; ".join(p.note for p in parts if p.note)
    return FinalGrade(student_id, student_name, tuple(parts), percent, status, message)


# ================================================================== sources -> components

def notebook_component(row) -> Component:
    """A :class:`Component` from one :class:`autograder.export.GradeRow`."""
    return Component(name=row.assignment, status=row.status, score=row.score, max_score=row.max_score,
                     raw_score=row.raw_score, late_penalty=row.late_penalty, flags=dict(row.flags),
                     message=row.message)


def leaderboard_component(result, max_points: float) -> Component:
    """A :class:`Component` from a :class:`leaderboard.records.LeaderboardResult` (None: never scored)."""
    if result is None:
        return Component(LEADERBOARD, Status.MISSING, None, max_points, message="no leaderboard entry")
    scored = result.status == CsvStatus.SCORED
    return Component(name=LEADERBOARD, status=result.status, score=float(result.points) if scored else None,
                     max_score=float(result.max_points), raw_score=float(result.points) if scored else None,
                     flags={f: result.message or "see the leaderboard" for f in result.flags}, message=result.message,
                     accuracy=result.private_accuracy)


def combine_course(rows: Sequence, board: Mapping, weights: Mapping[str, float], leaderboard_max: float,
                   where: str | Path) -> tuple[list[FinalGrade], list[str], list[str]]:
    """(final grades per rostered student, the parts' names in order, notes) for a whole course (pure).

    ``rows`` are :class:`autograder.export.GradeRow` (one per rostered student and
    assignment), ``board`` the leaderboard's results by student id (read only when
    ``weights`` names the leaderboard), ``where`` the course.toml named in messages.
    The parts are the weighted ones in course.toml's order, then any assignment of
    the gradebook without a weight (shown, counted 0, and noted). A weight naming an
    assignment the gradebook does not know is a CourseError.
    """
    known = sorted({r.assignment for r in rows})
    unknown = [n for n in weights if n != LEADERBOARD and n not in known]
    if unknown and rows:
        raise CourseError(f"{where}: [weights] names {', '.join(unknown)}, which the gradebook does not know "
                          f"(assignments: {', '.join(known) or 'none'}). Release it, or fix the weight's name.")
    notes = []
    names = [n for n in weights if n == LEADERBOARD or n in known]
    for name in known:
        if name not in weights:
            names.append(name)
            notes.append(f"{name} has no weight in {where} [weights]: shown, but it does not count")
    by_student: dict[str, list] = {}
    for row in rows:
        by_student.setdefault(row.student_id, []).append(row)
    if LEADERBOARD in names:
        outside = sorted(set(board) - set(by_student))
        if outside:
            notes.append(f"on the leaderboard but not on the roster (left out): {', '.join(outside)}")
    order = {n: i for i, n in enumerate(names)}
    counted = {n: w for n, w in weights.items() if n in names}
    grades = []
    for student_id in sorted(by_student):
        student_rows = by_student[student_id]
        components = [notebook_component(r) for r in student_rows]
        if LEADERBOARD in names:
            components.append(leaderboard_component(board.get(student_id), leaderboard_max))
        components.sort(key=lambda c: order[c.name])
        grades.append(combine(student_id, student_rows[0].student_name, components, counted))
    return grades, names, notes
