"""leaderboard/limit.py (pure): deduplication, the daily limit, and the later-day retry of an over_limit file."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from leaderboard.limit import Existing, plan
from leaderboard.records import Accuracy, CsvStatus, Submission

UTC = ZoneInfo("UTC")
ACC = Accuracy(5, 10, 0.2, 0.8)


def _sub(sha: str, day: int, hour: int, status=CsvStatus.SCORED, student="s1") -> Submission:
    when = dt.datetime(2026, 12, day, hour, tzinfo=dt.timezone.utc)
    scored = status == CsvStatus.SCORED
    return Submission(None, student, "hw", when, sha, status, "", f"/{sha}{day}{hour}", public=ACC if scored else None,
                      private=ACC if scored else None)


def test_limit_counts_scored_files_per_day_and_ignores_invalid_ones():
    out = plan([_sub("a", 1, 9), _sub("x", 1, 9, CsvStatus.INVALID), _sub("b", 1, 10), _sub("c", 1, 11)], [],
               2, UTC, "UTC")
    assert [s.status for s in out.new] == [CsvStatus.SCORED, CsvStatus.INVALID, CsvStatus.SCORED,
                                           CsvStatus.OVER_LIMIT]
    assert out.new[3].public is None and "upload it again on a later day" in out.new[3].message


def test_known_files_are_unchanged_and_an_over_limit_file_is_retried_on_a_later_day_only():
    stored = [Existing(1, "s1", "a", CsvStatus.SCORED, dt.datetime(2026, 12, 1, 9, tzinfo=dt.timezone.utc)),
              Existing(2, "s1", "b", CsvStatus.OVER_LIMIT, dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone.utc))]
    same_day = plan([_sub("a", 1, 9), _sub("b", 1, 12)], stored, 1, UTC, "UTC")
    assert same_day.new == [] and same_day.unchanged == 2
    later = plan([_sub("b", 2, 8)], stored, 1, UTC, "UTC")
    assert [s.status for s in later.new] == [CsvStatus.SCORED] and later.replaced == [2]


def test_the_same_file_twice_in_one_run_is_one_row():
    """Over the limit on day 1, uploaded again on day 2 in the same batch: one scored row, no clash."""
    out = plan([_sub("a", 1, 9), _sub("b", 1, 10), _sub("b", 2, 9)], [], 1, UTC, "UTC")
    assert [(s.sha256, s.status) for s in out.new] == [("a", CsvStatus.SCORED), ("b", CsvStatus.SCORED)]
    assert out.new[1].submitted_at.day == 2 and out.replaced == []
    twice = plan([_sub("a", 1, 9), _sub("a", 1, 10)], [], 5, UTC, "UTC")
    assert len(twice.new) == 1 and twice.unchanged == 1
