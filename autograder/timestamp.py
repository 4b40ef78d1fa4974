"""Submission times: ``timestamp.txt`` beside each submission, always read and written here."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

NBGRADER_FORMATS = ("%Y-%m-%d %H:%M:%S.%f %Z", "%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


def parse_timestamp(text: str) -> dt.datetime:
    """ISO 8601 (``2026-12-01T12:00:00+00:00``) or nbgrader's ``2026-12-01 12:00:00.000000 UTC``; naive means UTC."""
    text = text.strip()
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in NBGRADER_FORMATS:
            try:
                when = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"{text!r} is not a date and time; write it like 2026-12-01T12:00:00+00:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc)


def format_timestamp(when: dt.datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def read_timestamp(folder: Path) -> dt.datetime | None:
    """The time in ``folder/timestamp.txt``, or None when there is none (or it does not parse)."""
    path = Path(folder) / "timestamp.txt"
    if not path.exists():
        return None
    try:
        return parse_timestamp(path.read_text(encoding="utf-8", errors="replace"))
    except ValueError:
        return None
