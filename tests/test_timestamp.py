"""coursebase/timestamp.py: the one parser and formatter of submission times.

Fast tier: pure, no files.
"""
from __future__ import annotations

import datetime as dt

import pytest

from coursebase.timestamp import format_timestamp, parse_timestamp

UTC = dt.timezone.utc
MOSCOW = dt.timezone(dt.timedelta(hours=3))
NOON = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", [
    "2026-12-01T12:00:00+00:00",          # our timestamp.txt
    "2026-12-01T15:00:00+03:00",          # another offset, the same instant
    "2026-12-01T12:00:00Z",
    "2026-12-01 12:00:00.000000 UTC",     # nbgrader's
    "2026-12-01 12:00:00 UTC",
    "  2026-12-01T12:00:00+00:00\n",      # a file's trailing newline
    "Tuesday, 1 December 2026, 12:00 PM",  # an LMS export
])
def test_every_form_the_course_meets_reads_as_the_same_utc_instant(text):
    when = parse_timestamp(text)
    assert when == NOON and when.utcoffset() == dt.timedelta(0)


def test_a_time_without_offset_is_in_the_course_timezone():
    assert parse_timestamp("2026-12-01 15:00:00", MOSCOW) == NOON
    assert parse_timestamp("2026-12-01 12:00:00") == NOON   # UTC when not given
    # an explicit offset wins over the course's timezone
    assert parse_timestamp("2026-12-01T12:00:00+00:00", MOSCOW) == NOON
    assert parse_timestamp("2026-12-01 12:00:00 UTC", MOSCOW) == NOON


@pytest.mark.parametrize("text, words", [
    ("", "it is empty"),
    ("   ", "it is empty"),
    ("yesterday-ish", "is not a date and time"),
    ("9" * 500, "is not a date and time"),   # long text never reaches dateutil
])
def test_anything_else_is_a_plain_error_saying_how_to_write_it(text, words):
    with pytest.raises(ValueError) as info:
        parse_timestamp(text)
    assert words in str(info.value) and "2026-12-01T12:00:00+00:00" in str(info.value)
    assert len(str(info.value)) < 200   # hostile text is quoted only in part


@pytest.mark.parametrize("text", ["12:00", "5", "Monday", "December 2026"])
def test_a_text_without_a_full_date_is_refused_not_completed_with_today(text):
    # dateutil fills a missing year, month or day from today's date, so the same file would
    # give a different submission time (and lateness) depending on the day grading runs
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_format_writes_iso_utc_to_the_second_and_round_trips():
    when = dt.datetime(2026, 12, 1, 15, 0, 0, 987654, tzinfo=MOSCOW)
    text = format_timestamp(when)
    assert text == "2026-12-01T12:00:00+00:00"
    assert parse_timestamp(text) == when.replace(microsecond=0)
    assert format_timestamp(dt.datetime(2026, 12, 1, 12, 0)) == "2026-12-01T12:00:00+00:00"  # naive is UTC
