"""Read one submission file from disk, safely (I/O edge): no links, no special files, bounded.

A submission is whatever a student uploaded, so the name ``submission.csv`` may be
a symbolic link (to ``/etc/passwd``), a folder, a FIFO that never answers, a device
or a file of many gigabytes. Opening it is :func:`coursebase.submission.open_regular`,
the one owner of "open a file a student could have touched" (never follows a link,
never waits on anything but a regular file, checks the file it opened is the one it
looked at). :func:`read_submission` adds what the leaderboard needs on top: it never
reads more than ``max_bytes + 1`` bytes, and it is total: every outcome is a
:class:`FileRead`; anything that is not a readable regular file within the size cap
comes back with a :class:`Problem` saying what was found, and no bytes.

``sha256`` identifies the upload for deduplication (the store keeps it: these rules
and the words below must not change): of the bytes for a normal file; of the first
``max_bytes + 1`` bytes and the size for a file over the cap; of what was found (and
a link's target) for anything else.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from coursebase.submission import NotRegular, open_regular
from leaderboard.validate import MAX_QUOTE, Problem, quote, too_large

# What was found instead of a file, in the words of the message and of the hash of a refused upload.
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


@dataclass(frozen=True)
class FileRead:
    """What was read: ``data`` only when ``problem`` is None."""
    data: bytes | None
    sha256: str
    size: int
    problem: Problem | None = None


def _what(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refused(path: Path, found: str, detail: str = "") -> FileRead:
    digest = hashlib.sha256(f"{found}\0{detail}".encode("utf-8", "replace")).hexdigest()
    return FileRead(None, digest, 0, Problem("not_a_file", f"{path.name} is {found}{detail}, not a regular file; "
                                                           f"upload the CSV file itself."))


def _not_regular(path: Path, mode: int) -> FileRead:
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            return _refused(path, "a symbolic link")      # swapped for a link while being opened
        return _refused(path, "a symbolic link", f" (to {quote(target[:4 * MAX_QUOTE])})")
    if stat.S_ISREG(mode):                                 # replaced by another file while being opened
        return _refused(path, "unreadable", " (it was replaced while being read)")
    return _refused(path, _what(mode))


def read_submission(path: str | Path, max_bytes: int) -> FileRead:
    """The file's bytes (at most ``max_bytes``), its hash and size; never follows a link."""
    path = Path(path)
    try:
        with open_regular(path) as fh:
            data = fh.read(max_bytes + 1)
            size = os.fstat(fh.fileno()).st_size
    except NotRegular as exc:
        return _not_regular(path, exc.mode)
    except OSError as exc:
        return _refused(path, "unreadable", f" ({os.strerror(exc.errno or errno.EIO)})")
    digest = hashlib.sha256(data)
    if len(data) > max_bytes:
        size = max(size, len(data))
        digest.update(f"\0size={size}".encode())
        return FileRead(None, digest.hexdigest(), size, too_large(size, max_bytes))
    return FileRead(data, digest.hexdigest(), len(data))
