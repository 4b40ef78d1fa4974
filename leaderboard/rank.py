"""Ranking (pure): higher accuracy first, ties to the earlier submission, baselines unranked.

Baselines (an instructor's "linear model" row) sit in the ordering so a student
can see where they stand against them, but they take no rank: the student below
a baseline keeps the rank they would have without it. On an exact tie a student
goes above a baseline.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    key: str                     # student id or baseline name
    accuracy: float
    submitted_at: dt.datetime
    baseline: bool = False


@dataclass(frozen=True)
class Ranked:
    entry: Entry
    rank: int | None             # None for baselines


def rank_entries(entries: list[Entry]) -> list[Ranked]:
    """Entries in leaderboard order with ranks 1, 2, ... for students only.

    Order: accuracy descending; on equal accuracy the earlier submission first,
    students before baselines, then by key so the order never depends on input order.
    """
    ordered = sorted(entries, key=lambda e: (-e.accuracy, e.baseline, e.submitted_at, e.key))
    ranked, rank = [], 0
    for entry in ordered:
        if entry.baseline:
            ranked.append(Ranked(entry, None))
        else:
            rank += 1
            ranked.append(Ranked(entry, rank))
    return ranked
