"""Which new files are recorded, and with which status: the daily limit and deduplication (pure).

:func:`plan` is given the files of one run (already read, validated and scored)
and the rows the database holds *at the moment of writing*; the store calls it
inside one locked transaction (``Store.record``), so any number of concurrent
``leaderboard score`` runs give the same result as one.

Rules:

* a file already recorded for the same student (same content hash) is not
  recorded again (``unchanged``), with one exception: a file that was
  ``over_limit`` is scored when it is uploaded again on a later day (course time
  zone) and that day still has room. Its old row is replaced by the scored one.
* an invalid file is recorded ``invalid`` and does not use up the daily limit;
* a valid file is ``scored`` while the student has fewer than ``daily_limit``
  scored files that day, else ``over_limit``; files are taken in time order, so
  the earliest ones of a day are the ones scored. ``daily_limit`` 0 means no limit.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from leaderboard.records import CsvStatus, Submission


@dataclass(frozen=True)
class Existing:
    """What the limit needs of a stored row."""
    id: int
    student_id: str
    sha256: str
    status: CsvStatus
    submitted_at: dt.datetime


@dataclass
class Plan:
    new: list[Submission] = field(default_factory=list)    # to insert, in order
    replaced: list[int] = field(default_factory=list)      # ids of over_limit rows a new row replaces
    unchanged: int = 0


def over_limit_message(limit: int, day: dt.date, zone_name: str) -> str:
    return (f"over the daily limit: {limit} submission{'s were' if limit != 1 else ' was'} already scored on "
            f"{day} ({zone_name}), so this file was not scored. Your scored submissions still count. To have "
            f"this file scored, upload it again on a later day (the same file counts as a new upload then).")


def plan(candidates: list[Submission], existing: list[Existing], daily_limit: int, zone: ZoneInfo,
         zone_name: str) -> Plan:
    """The rows to write for ``candidates`` (status ``scored`` for valid files, with their scores,
    or ``invalid``), given the rows already stored. Pure."""
    def day(when: dt.datetime) -> dt.date:
        return when.astimezone(zone).date()

    known = {(e.student_id, e.sha256): e for e in existing}
    used = Counter((e.student_id, day(e.submitted_at)) for e in existing if e.status == CsvStatus.SCORED)
    out = Plan()
    pending: dict[tuple[str, str], int] = {}        # key -> index in out.new, for files of this run
    for sub in sorted(candidates, key=lambda s: (s.submitted_at, s.student_id, s.source)):
        key, today = (sub.student_id, sub.sha256), day(sub.submitted_at)
        before = known.get(key)
        room = not daily_limit or used[(sub.student_id, today)] < daily_limit
        if before is not None:
            retry = (before.status == CsvStatus.OVER_LIMIT and sub.status == CsvStatus.SCORED
                     and today > day(before.submitted_at) and room)
            if not retry:
                out.unchanged += 1
                continue
            if key not in pending:
                out.replaced.append(before.id)
        if sub.status == CsvStatus.SCORED and not room:
            sub = replace(sub, status=CsvStatus.OVER_LIMIT, public=None, private=None, predictions=None,
                          message=over_limit_message(daily_limit, today, zone_name))
        if sub.status == CsvStatus.SCORED:
            used[(sub.student_id, today)] += 1
        known[key] = Existing(-1, sub.student_id, sub.sha256, sub.status, sub.submitted_at)
        if key in pending:                   # the same file earlier in this run was over the limit
            out.new[pending[key]] = sub
        else:
            pending[key] = len(out.new)
            out.new.append(sub)
    return out
