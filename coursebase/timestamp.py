"""Submission times: the one parser and formatter of every time a submission carries.

Contract:

* :func:`parse_timestamp` reads any time the course meets: our own
  ``timestamp.txt`` (``2026-12-01T12:00:00+00:00``), nbgrader's
  ``2026-12-01 12:00:00.000000 UTC``, ``…Z``, and the looser forms an LMS
  export uses (``Monday, 30 November 2026, 4:28 PM``, read with dateutil). A
  time without an offset is read in ``default_tz`` (the course's
  ``course.timezone``; UTC when not given). The result is an aware UTC datetime.
  Anything else raises ValueError saying what was found and how to write it.
* :func:`format_timestamp` writes ISO 8601 UTC to the second.

Which file holds a submission's time, and which time is trusted, is
:mod:`coursebase.submission`'s business, not this module's.
"""
from __future__ import annotations

import datetime as dt

UTC = dt.timezone.utc
NBGRADER_FORMATS = ("%Y-%m-%d %H:%M:%S.%f %Z", "%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")
MAX_TEXT = 200   # a time is short; longer text is not one (and is not handed to dateutil)


def parse_timestamp(text: str, default_tz: dt.tzinfo = UTC) -> dt.datetime:
    """``text`` as an aware UTC datetime; naive times are in ``default_tz``. Raises ValueError."""
    value = text.strip()
    shown = repr(value[:60]) + ("…" if len(value) > 60 else "")
    if not value:
        raise ValueError("it is empty; write a date and time like 2026-12-01T12:00:00+00:00")
    when = _strict(value)
    if when is None and len(value) <= MAX_TEXT:
        from dateutil import parser as dateparser
        try:
            # dateutil fills a missing year, month or day from its default (today): parse with two
            # different defaults and refuse a text whose date the two runs do not agree on
            first = dateparser.parse(value, default=dt.datetime(2001, 1, 1))
            second = dateparser.parse(value, default=dt.datetime(2002, 2, 2))
            when = first if first.date() == second.date() else None
            if when is None:
                raise ValueError(f"{shown} has no full date (year, month and day); write it like "
                                 f"2026-12-01T12:00:00+00:00")
        except OverflowError:
            when = None
        except ValueError as exc:
            if "no full date" in str(exc):
                raise
            when = None
    if when is None:
        raise ValueError(f"{shown} is not a date and time; write it like 2026-12-01T12:00:00+00:00")
    if when.tzinfo is None:
        when = when.replace(tzinfo=default_tz)
    return when.astimezone(UTC)


def _strict(value: str) -> dt.datetime | None:
    if value.endswith(" UTC"):
        try:
            return dt.datetime.fromisoformat(value[:-4]).replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in NBGRADER_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def format_timestamp(when: dt.datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")
