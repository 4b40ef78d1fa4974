"""What collect reads besides the files: the LMS's zip, unpacked within the caps, and its times CSV.

:func:`unpack_zip` checks every entry before writing anything (an absolute name or a ``..``
refuses the whole zip), then unpacks regular files with their times, counting bytes while
they are written (never trusting the sizes the zip declares) against course.toml
``[collect]``; what it leaves out comes back as :class:`Skipped`, with the limit and what to
do. :func:`read_times` reads the LMS's CSV of submission times (``--times FILE``), bounded,
naming the file and line of any problem. Both raise :class:`CollectError` when nothing can
be collected at all.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from coursebase import submission
from coursebase.layout import CourseError
from coursebase.policy import CollectPolicy
from coursebase.timestamp import parse_timestamp

UTC = dt.timezone.utc
RATIO_FLOOR = 64 << 10          # an entry this small is never refused for its compression ratio
TIMES_FILE_LIMIT = 64 << 20     # a --times CSV larger than this is not an LMS export
RAISE_HINT = "If this upload is genuine, raise collect.{key} in course.toml and collect again"


class CollectError(CourseError):
    """The input cannot be collected at all (nothing was written)."""


@dataclass
class Skipped:
    name: str                       # the entry in the input, as given
    reason: str
    student_id: str | None = None


@dataclass(frozen=True)
class Times:
    """Submission times from the LMS (``--times FILE``): by student id and by entry name."""
    source: str
    by_key: dict[str, dt.datetime]

    def lookup(self, student: str, origins: list[str]) -> dt.datetime | None:
        """The time for ``student``, by id, else by the top-level entry or the name of one of its files."""
        keys = [student] + sorted({o.split("/")[0] for o in origins}) + list(origins)
        for key in keys:
            if key in self.by_key:
                return self.by_key[key]
        return None


# ---------------------------------------------------------------- times

def read_times(path: Path, tz: dt.tzinfo) -> Times:
    """A CSV from the LMS with a header: a ``student_id`` or ``file`` column and a ``time`` column.

    Other columns are ignored. Naive times are in the course's time zone. Raises
    CollectError naming the file, the line and the problem; nothing is collected then.
    """
    path = Path(path)
    try:
        text = submission.read_bounded(path, TIMES_FILE_LIMIT).decode("utf-8-sig")
    except FileNotFoundError:
        raise CollectError(f"--times {path}: the file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CollectError(f"--times {path}: cannot be read ({exc}); give the CSV the LMS exported") from None
    rows = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(rows, [])]
    key_col = next((header.index(k) for k in ("student_id", "file") if k in header), None)
    time_col = header.index("time") if "time" in header else None
    if key_col is None or time_col is None:
        raise CollectError(f"--times {path}, line 1: the header must name a 'student_id' (or 'file') column and "
                           f"a 'time' column, found {', '.join(header) or 'nothing'}; nothing was collected")
    by_key: dict[str, dt.datetime] = {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(key_col, time_col):
            raise CollectError(f"--times {path}, line {line}: {len(row)} columns, the header has {len(header)}; "
                               f"nothing was collected")
        key = row[key_col].strip()
        try:
            when = parse_timestamp(row[time_col], tz)
        except ValueError as exc:
            raise CollectError(f"--times {path}, line {line}: the time for {key!r}: {exc}; "
                               f"nothing was collected") from None
        if key in by_key and by_key[key] != when:
            raise CollectError(f"--times {path}, line {line}: {key!r} has two different times; keep the one "
                               f"the LMS recorded for the final upload; nothing was collected")
        by_key[key] = when
    return Times(f"--times {path.name}", by_key)


def _zip_entry_time(info: zipfile.ZipInfo, tz: dt.tzinfo) -> dt.datetime:
    """The entry's modification time: the Info-ZIP UTC field if present (0x5455),
    else the DOS date/time, which has no zone and is read in ``tz``."""
    extra = info.extra
    while len(extra) >= 4:
        header, size = struct.unpack("<HH", extra[:4])
        body = extra[4:4 + size]
        if header == 0x5455 and len(body) >= 5 and body[0] & 1:
            return dt.datetime.fromtimestamp(struct.unpack("<i", body[1:5])[0], UTC)
        extra = extra[4 + size:]
    return dt.datetime(*info.date_time, tzinfo=tz).astimezone(UTC)


def _zip_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:
        # Many tools write UTF-8 names without setting the UTF-8 flag; zipfile
        # then decodes them as cp437. Undo that when the bytes are valid UTF-8.
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name.replace("\\", "/")


def _unsafe_zip_entries(names: list[str]) -> list[str]:
    bad = []
    for name in names:
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            bad.append(f"{name!r} is an absolute path")
        elif ".." in PurePosixPath(name).parts:
            bad.append(f"{name!r} climbs out of the archive with '..'")
    return bad


def mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB" if n < 1 << 30 else f"{n / (1 << 30):.1f} GB"


def unpack_zip(archive: Path, target: Path, tz: dt.tzinfo, caps: CollectPolicy) -> list[Skipped]:
    """Check every entry, then unpack regular files into ``target`` with their times, within ``caps``.

    Raises CollectError before writing anything if one entry is unsafe.
    Returns the entries not unpacked (links, over a limit, unreadable), to be reported.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CollectError(f"{archive}: not a readable zip archive ({exc}); download it again") from None
    skipped: list[Skipped] = []
    with zf:
        infos = zf.infolist()
        names = [_zip_name(i) for i in infos]
        bad = _unsafe_zip_entries(names)
        if bad:
            shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise CollectError(
                f"{archive}: refused, {len(bad)} entr{'y' if len(bad) == 1 else 'ies'} would be written "
                f"outside the collection folder: {shown}. Nothing was collected. Ask the LMS for a "
                f"clean download or unpack it yourself and collect the folder.")
        budget = max(caps.max_ratio * archive.stat().st_size, RATIO_FLOOR)   # the whole zip's unpacked size
        total = 0
        files = [(i, n) for i, n in zip(infos, names) if not i.is_dir()]
        if len(files) > caps.max_entries:
            rest = files[caps.max_entries:]
            skipped.append(Skipped(
                f"{rest[0][1]} and the {len(rest) - 1} entries after it",
                f"the zip holds {len(files)} files, more than collect.max_entries = {caps.max_entries}; only the "
                f"first {caps.max_entries} were unpacked. " + RAISE_HINT.format(key="max_entries")))
            files = files[:caps.max_entries]
        for n_done, (info, name) in enumerate(files):
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                skipped.append(Skipped(name, "symbolic link inside the zip; not followed"))
                continue
            if total >= budget:
                left = files[n_done:]
                skipped.append(Skipped(
                    f"{name} and the {len(left) - 1} entries after it",
                    f"the zip unpacked to {mb(total)}, more than collect.max_ratio = {caps.max_ratio} times its own "
                    f"size ({mb(archive.stat().st_size)}); the rest was not unpacked (a zip bomb?). "
                    + RAISE_HINT.format(key="max_ratio")))
                break
            dest = target / name
            ratio_cap = max(caps.max_ratio * max(info.compress_size, 1), RATIO_FLOOR)
            left_in_budget = budget - total

            def stop(written: int, ratio_cap=ratio_cap, left_in_budget=left_in_budget, info=info) -> str | None:
                if written > ratio_cap:
                    return (f"it unpacks to more than collect.max_ratio = {caps.max_ratio} times its compressed "
                            f"size ({info.compress_size} bytes); stopped at {mb(written)} (a zip bomb?). "
                            + RAISE_HINT.format(key="max_ratio"))
                if written > left_in_budget:
                    return (f"the zip unpacks to more than collect.max_ratio = {caps.max_ratio} times its own size; "
                            f"stopped here (a zip bomb?). " + RAISE_HINT.format(key="max_ratio"))
                return None

            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src:
                    written = submission.copy_stream(src, dest, caps.max_file_bytes, stop)
            except submission.TooLarge as exc:
                reason = str(exc)
                if reason.startswith("more than"):
                    reason = (f"larger than collect.max_file_mb = {caps.max_file_mb} MB (stopped reading there, "
                              f"whatever size the zip declares). " + RAISE_HINT.format(key="max_file_mb"))
                skipped.append(Skipped(name, reason))
                continue
            except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
                skipped.append(Skipped(name, f"cannot be unpacked ({exc}); the rest of the zip was collected. "
                                             f"Download the archive again or ask the student to re-upload"))
                continue
            total += written
            stamp = _zip_entry_time(info, tz).timestamp()
            os.utime(dest, (stamp, stamp))
    return skipped


