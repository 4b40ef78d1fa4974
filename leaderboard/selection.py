"""Which submission counts for a student (pure): Kaggle's rule.

A student (or the instructor for them, `leaderboard select`) may choose up to
``MAX_SELECTED`` final submissions; the best private score among the chosen ones
counts. Without a choice, the submission with the best public score counts
(ties: the earlier one). Only ``scored`` submissions can count.
"""
from __future__ import annotations

from leaderboard.records import CsvStatus, Submission

MAX_SELECTED = 2
SELECTED = "selected by the student"
BEST_PUBLIC = "best public score (nothing selected)"


def _earliest_first(sub: Submission):
    return (sub.submitted_at, sub.id or 0)


def best_public(submissions: list[Submission]) -> Submission | None:
    """The scored submission with the highest public accuracy; the earlier one on ties."""
    scored = [s for s in submissions if s.status == CsvStatus.SCORED and s.public is not None]
    if not scored:
        return None
    top = max(s.public_score.value for s in scored)
    return min((s for s in scored if s.public_score.value == top), key=_earliest_first)


def final_submission(submissions: list[Submission]) -> tuple[Submission | None, str]:
    """(the submission that counts, why it was chosen) for one student's submissions."""
    chosen = [s for s in submissions if s.selected and s.status == CsvStatus.SCORED and s.private is not None]
    if chosen:
        top = max(s.private_score.value for s in chosen)
        return min((s for s in chosen if s.private_score.value == top), key=_earliest_first), SELECTED
    best = best_public(submissions)
    return (best, BEST_PUBLIC) if best else (None, "")
