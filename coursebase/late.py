"""Pricing late work: a pure function of times, the late policy and the score.

No I/O here. ``export``, ``feedback`` and ``review`` call :func:`price_lateness`
with the submission time (``timestamp.txt``, as recorded in the gradebook), the
deadline that applies to that student (``Policy.due_for``: an extension wins over
the assignment's due date) and the raw score.

Rules (course.toml ``[late_policy]``):

* A submission is late when it arrives after ``due + grace_minutes``. The grace
  period only moves the line; it is not subtracted from the lateness.
* ``days_late`` counts *started* days after ``due + grace``: one minute past the
  line is 1 day, 24 h and one minute is 2 days.
* ``none``: late work is flagged but costs nothing.
* ``per_day``: ``per_day * max_score`` for each started day, at most
  ``max_penalty * max_score``, and never more than the raw score (a score does not
  go below 0).
* ``reject``: late work scores 0 (the penalty is the whole raw score).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from coursebase.policy import LatePolicy

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Lateness:
    late: bool
    days_late: int
    penalty: float   # points taken off the raw score, 0 <= penalty <= raw_score

    @classmethod
    def on_time(cls) -> "Lateness":
        return cls(late=False, days_late=0, penalty=0.0)


def _check_aware(value: dt.datetime, name: str) -> None:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive time is ambiguous by hours; guessing could make a student late.
        raise ValueError(f"{name} must carry a timezone (e.g. +00:00), got naive {value.isoformat()}")


def _check_number(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return float(value)


def price_lateness(submitted_at: dt.datetime, due: dt.datetime | None, policy: LatePolicy,
                   max_score: float, raw_score: float) -> Lateness:
    """How late ``submitted_at`` is against ``due`` and what it costs.

    ``due`` None means the assignment has no deadline: never late. Both times
    must be timezone-aware. ``max_score`` and ``raw_score`` must be finite and
    non-negative. Raises ``ValueError`` naming the argument otherwise, and for an
    unknown ``policy.kind``. The penalty is rounded to 6 decimals so that
    ``raw_score - penalty`` prints cleanly.
    """
    _check_aware(submitted_at, "submitted_at")
    max_score = _check_number(max_score, "max_score")
    raw_score = _check_number(raw_score, "raw_score")
    if policy.kind not in ("none", "per_day", "reject"):
        raise ValueError(f"policy.kind must be none, per_day or reject, got {policy.kind!r}")
    if due is None:
        return Lateness.on_time()
    _check_aware(due, "due")

    line = due + dt.timedelta(minutes=policy.grace_minutes)
    if submitted_at <= line:
        return Lateness.on_time()
    days_late = math.ceil((submitted_at - line) / _DAY)

    if policy.kind == "none":
        penalty = 0.0
    elif policy.kind == "reject":
        penalty = raw_score
    else:
        penalty = min(policy.per_day * days_late, policy.max_penalty) * max_score
        penalty = min(penalty, raw_score)
    return Lateness(late=True, days_late=days_late, penalty=round(penalty, 6))


def describe(lateness: Lateness, due: dt.datetime) -> str:
    """The words of the ``late`` flag, the same in records, export and feedback."""
    days = lateness.days_late
    return f"{days} day{'s' if days != 1 else ''} late (due {due.isoformat()}), penalty {lateness.penalty:g}"
