"""Typed records passed along the leaderboard pipeline.

gather -> validate -> score -> store -> integrity -> standings -> grade -> report.
The status words are the closed list of docs/contracts.md for a CSV submission; nothing else
is ever written in a ``status`` column.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from coursebase.vocabulary import Flag, Word


class CsvStatus(Word):
    """A CSV submission's status (docs/contracts.md): exactly one of these four words."""
    SCORED = "scored"
    INVALID = "invalid"
    OVER_LIMIT = "over_limit"
    MISSING = "missing"


@dataclass(frozen=True)
class Accuracy:
    """Accuracy on one split with its 95 % Wilson score interval."""
    correct: int
    total: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class Submission:
    """One recorded CSV file of one student (a row of the store, as plain data).

    ``predictions`` holds the predicted class of every solution row, in the
    solution's row order, for scored submissions only (the copy check needs it).
    """
    id: int | None
    student_id: str
    assignment: str
    submitted_at: dt.datetime          # aware, UTC
    sha256: str
    status: CsvStatus
    message: str = ""
    source: str = ""                   # where the file was found
    time_source: str = "timestamp.txt"  # or "file time" for a flat folder
    public: Accuracy | None = None
    private: Accuracy | None = None
    selected: bool = False
    flags: tuple[Flag, ...] = ()
    flag_detail: str = ""
    predictions: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def public_accuracy(self) -> float | None:
        return self.public.value if self.public else None

    @property
    def private_accuracy(self) -> float | None:
        return self.private.value if self.private else None

    @property
    def public_score(self) -> Accuracy:
        """The public accuracy of a scored submission (a scored one always has both splits)."""
        return _required(self, self.public, "public")

    @property
    def private_score(self) -> Accuracy:
        """The private accuracy of a scored submission (a scored one always has both splits)."""
        return _required(self, self.private, "private")


def _required(sub: Submission, accuracy: Accuracy | None, split: str) -> Accuracy:
    if accuracy is None:
        raise ValueError(f"submission #{sub.id} of {sub.student_id} ({sub.status}) has no {split} accuracy; "
                         "only a scored submission can be ranked")
    return accuracy


@dataclass(frozen=True)
class Baseline:
    """An instructor's reference row ("linear model"): shown, never ranked."""
    name: str
    public: Accuracy
    private: Accuracy
    created_at: dt.datetime
    id: int | None = None


@dataclass
class LeaderboardResult:
    """One student's leaderboard outcome, the contract with the final-grades step.

    ``points`` is already the grade out of ``max_points`` (0 when the status is
    not ``scored``). ``private_accuracy`` is the one that decides the grade;
    ``public_accuracy`` is what the student saw. ``flags`` (e.g. ``copy``,
    ``implausible``) ask for a human review; they never change the points.
    """
    student_id: str
    status: CsvStatus
    private_accuracy: float | None
    public_accuracy: float | None
    points: float
    max_points: float
    flags: list[Flag] = field(default_factory=list)
    message: str = ""
    rank: int | None = None            # private (instructor) rank among scored students
    submission_id: int | None = None   # the store id of the submission that counts


class LeaderboardError(RuntimeError):
    """Something the instructor or student must fix; the message says what and how."""
