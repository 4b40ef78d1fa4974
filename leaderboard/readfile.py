"""Read one submission file from disk, safely (I/O edge): no links, no special files, bounded.

A submission is whatever a student uploaded, so the name ``submission.csv`` may be
a symbolic link (to ``/etc/passwd``), a folder, a FIFO that never answers, a device
or a file of many gigabytes. :func:`read_submission` never follows a link, never
waits on anything but a regular file, and never reads more than ``max_bytes + 1``
bytes. It is total: every outcome is a :class:`FileRead`; anything that is not a
readable regular file within the size cap comes back with a :class:`Problem`
saying what was found, and no bytes.

``sha256`` identifies the upload for deduplication: of the bytes for a normal
file; of the first ``max_bytes + 1`` bytes and the size for a file over the cap;
of what was found (and a link's target) for anything else.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from leaderboard.validate import MAX_QUOTE, Problem, quote, too_large

CHUNK = 1 << 20

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


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


def read_submission(path: str | Path, max_bytes: int) -> FileRead:
    """The file's bytes (at most ``max_bytes``), its hash and size; never follows a link."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except OSError as exc:
        return _refused(path, "unreadable", f" ({os.strerror(exc.errno or errno.EIO)})")
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return _refused(path, "a symbolic link", f" (to {quote(target[:4 * MAX_QUOTE])})")
    if not stat.S_ISREG(info.st_mode):
        return _refused(path, _what(info.st_mode))
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:       # replaced by a link or a FIFO since lstat: still refused, never followed
        if exc.errno == errno.ELOOP:
            return _refused(path, "a symbolic link")
        return _refused(path, "unreadable", f" ({os.strerror(exc.errno or errno.EIO)})")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return _refused(path, _what(info.st_mode))
        digest = hashlib.sha256()
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            digest.update(chunk)
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        return _refused(path, "unreadable", f" ({os.strerror(exc.errno or errno.EIO)})")
    finally:
        os.close(fd)
    if total > max_bytes:
        size = max(info.st_size, total)
        digest.update(f"\0size={size}".encode())
        return FileRead(None, digest.hexdigest(), size, too_large(size, max_bytes))
    return FileRead(b"".join(chunks), digest.hexdigest(), total)
