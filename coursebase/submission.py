"""A submission on disk: the one owner of what a submission folder holds and how it is read.

Layout (these names are spelled here and nowhere else)::

    submitted/<student>/<assignment>/          the current submission
        <released name>.ipynb                  the notebook
        submission.csv, notes/plan.txt, …      the student's other files (sub-folders kept)
        timestamp.txt                          the trusted submission time, written by collect only
        uploaded-timestamp.txt                 a timestamp.txt found inside the student's upload:
                                               kept (it is the student's file), never read as a time
    submitted/<student>/.archive/<assignment>/<YYYYmmddTHHMMSSZ>[-n]/
                                               an earlier submission, same layout, never overwritten

Contract, for every reader in the system (collect, grade, the executor, Dask, the leaderboard):

* **Regular files only.** Folders are walked with ``lstat``; a symbolic link,
  FIFO, device or socket is never followed, opened or waited on: walkers list it
  as :class:`Refused`, openers raise :class:`NotRegular`. A file is opened with
  ``O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`` and checked with ``fstat`` to be the same regular
  file ``lstat`` saw, so swapping it for a link or a FIFO in between is caught.
* **Bounded reads.** Hashing streams in 1 MiB chunks (memory does not grow with
  the file). Reading a whole file takes a limit and raises :class:`TooLarge`
  past it, having read at most ``limit + 1`` bytes whatever the file claims.
* **Time.** A submission's time is ``timestamp.txt``, written by ``collect``
  from the LMS (``collect --times``), the zip entry time or the file time.
  :func:`time_of` reads it; a ``timestamp.txt`` inside the student's upload is
  stored as ``uploaded-timestamp.txt`` and only ever makes
  :func:`has_uploaded_timestamp` true (grading flags it ``attack``).
* **Hash.** :func:`content_hash` covers every regular file of the submission
  (the trusted time included, hidden top-level names excluded), so a new time or
  a changed file means "grade again".
* **Extras.** :func:`extras` are the top-level files the executor copies into
  the sandbox beside the notebook: not notebooks, not ``timestamp.txt``, not
  hidden, not a released data file, each at most ``EXTRA_LIMIT`` bytes.

Pure path helpers and small readers only: no policy, no gradebook.
"""
from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from coursebase.timestamp import format_timestamp, parse_timestamp

TIMESTAMP_FILE = "timestamp.txt"
UPLOADED_TIMESTAMP = "uploaded-timestamp.txt"
UPLOADED_TIMESTAMP_DETAIL = "the upload contained its own timestamp.txt; it was ignored"
ARCHIVE = ".archive"
CHUNK = 1 << 20
EXTRA_LIMIT = 64 << 20          # largest extra file copied into a sandbox
TRANSPORT_LIMIT = 256 << 20     # largest file sent to a Dask worker
TIMESTAMP_LIMIT = 4096          # a timestamp.txt is one short line
UTC = dt.timezone.utc


class NotRegular(OSError):
    """The path is a link, FIFO, device, socket or folder where a regular file was expected.

    ``mode`` is the ``st_mode`` of what was found there (``stat.S_IFLNK`` for a link),
    so a caller can say what it was in its own words.
    """

    def __init__(self, message: str, *, mode: int = 0) -> None:
        super().__init__(message)
        self.mode = mode


class TooLarge(OSError):
    """A file is larger than the limit it is read under."""


@dataclass(frozen=True)
class FileEntry:
    rel: str          # posix path relative to the folder walked
    path: Path
    size: int         # from lstat


@dataclass(frozen=True)
class Refused:
    rel: str
    kind: str         # "symbolic link", "FIFO (named pipe)", "device", "socket", "special file"


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words for a report."""
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "regular file"
    return "special file"


# ---------------------------------------------------------------- walking and opening

def scan(folder: Path, *, top_only: bool = False) -> tuple[list[FileEntry], list[Refused]]:
    """Every regular file under ``folder`` (sorted by path parts) and every other non-folder entry.

    Never follows a link: a linked folder is refused like a linked file. A
    folder that is missing or not a folder gives two empty lists.
    """
    files: list[FileEntry] = []
    refused: list[Refused] = []
    root = Path(folder)
    try:
        if not stat.S_ISDIR(os.lstat(root).st_mode):
            return files, refused
    except OSError:
        return files, refused

    def walk(directory: Path, prefix: tuple[str, ...]) -> None:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            parts = (*prefix, entry.name)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                files.append(FileEntry("/".join(parts), Path(entry.path), info.st_size))
            elif stat.S_ISDIR(info.st_mode):
                if not top_only:
                    walk(Path(entry.path), parts)
            else:
                refused.append(Refused("/".join(parts), kind_of(info.st_mode)))

    walk(root, ())
    files.sort(key=lambda f: tuple(f.rel.split("/")))
    refused.sort(key=lambda r: tuple(r.rel.split("/")))
    return files, refused


def is_regular(path: Path) -> bool:
    """True for a regular file that is not a link (``Path.is_file`` follows links)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def is_folder(path: Path) -> bool:
    """True for a folder that is not a link."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading without following a link, opening a device or waiting on a FIFO.

    Raises NotRegular (saying what it is instead, its ``mode`` set) or the OSError of the open.
    """
    before = os.lstat(path)
    if not stat.S_ISREG(before.st_mode):
        raise NotRegular(f"{path} is a {kind_of(before.st_mode)}, not a regular file; it was not opened",
                         mode=before.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:     # swapped for a link since the lstat: never followed
            raise NotRegular(f"{path} changed into a symbolic link while being opened; it was not read",
                             mode=stat.S_IFLNK) from None
        raise
    try:
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise NotRegular(f"{path} changed into a {kind_of(after.st_mode)} while being opened; it was not read",
                             mode=after.st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: Path, limit: int) -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes (else TooLarge)."""
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{path} is larger than {limit} bytes; it was not read")
    return data


def copy_stream(src: IO[bytes], dest: Path, limit: int, stop=None) -> int:
    """Copy ``src`` into a new file ``dest`` in chunks, at most ``limit`` bytes.

    ``stop(written)`` may return a reason to give up early (e.g. a compression
    ratio). Past the limit or on a stop, ``dest`` is removed and TooLarge is
    raised with the reason. Returns the number of bytes written.
    """
    written = 0
    try:
        with open(dest, "xb") as out:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    return written
                written += len(chunk)
                if written > limit:
                    raise TooLarge(f"more than {limit} bytes")
                reason = stop(written) if stop else None
                if reason:
                    raise TooLarge(reason)
                out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def copy_regular(src: Path, dest: Path, limit: int) -> int:
    """Copy a regular file (never a link, FIFO or device) with its times; see :func:`copy_stream`."""
    with open_regular(src) as fh:
        written = copy_stream(fh, dest, limit)
        st = os.fstat(fh.fileno())
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
    return written


# ---------------------------------------------------------------- hashing

def file_digest(path: Path) -> bytes:
    """SHA-256 of a regular file, streamed: memory stays at one chunk whatever its size."""
    h = hashlib.sha256()
    with open_regular(path) as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.digest()


def tree_digest(folder: Path) -> dict[str, str]:
    """Every regular file under ``folder`` with its SHA-256 (to tell 'unchanged' from 'replaced')."""
    files, _ = scan(folder)
    return {f.rel: file_digest(f.path).hex() for f in files}


def content_hash(folder: Path) -> str:
    """Content hash of everything the student handed in, the trusted time included.

    Top-level hidden names are left out. Records store it to tell whether a
    submission changed since it was graded.
    """
    h = hashlib.sha256()
    files, _ = scan(folder)
    for f in files:
        if f.rel.startswith("."):
            continue
        h.update(f.rel.encode() + b"\0")
        try:
            h.update(file_digest(f.path))
        except OSError as exc:   # swapped for a link or FIFO since the walk: hashed as such, never read
            h.update(b"unreadable:" + type(exc).__name__.encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- time

def time_path(folder: Path) -> Path:
    return Path(folder) / TIMESTAMP_FILE


def read_time(folder: Path) -> dt.datetime | None:
    """The trusted time of the submission in ``folder``; None when it has none.

    Raises ValueError (saying why) when ``timestamp.txt`` is there but is not a
    short regular file holding a time.
    """
    path = time_path(folder)
    try:
        os.lstat(path)
    except FileNotFoundError:
        return None
    try:
        text = read_bounded(path, TIMESTAMP_LIMIT).decode("utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(str(exc)) from None
    return parse_timestamp(text)


def time_of(folder: Path) -> dt.datetime | None:
    """Like :func:`read_time`, but None also when the file is unusable."""
    try:
        return read_time(folder)
    except ValueError:
        return None


def write_time(folder: Path, when: dt.datetime) -> None:
    time_path(folder).write_text(format_timestamp(when) + "\n", encoding="utf-8")


def has_uploaded_timestamp(folder: Path) -> bool:
    """True when the student's upload held its own timestamp.txt (kept, ignored, flagged)."""
    return is_regular(Path(folder) / UPLOADED_TIMESTAMP)


def stored_name(name: str) -> str:
    """Where a student's file called ``name`` (relative to the submission) is stored."""
    return UPLOADED_TIMESTAMP if name == TIMESTAMP_FILE else name


# ---------------------------------------------------------------- what the executor and Dask get

def extras(folder: Path, skip: Iterable[str] = (), limit: int = EXTRA_LIMIT) -> dict[str, bytes]:
    """The student's own top-level extra files (e.g. submission.csv) for the sandbox's working folder.

    Left out: notebooks, the trusted ``timestamp.txt``, hidden names, names in
    ``skip`` (released data files, which the grader supplies) and files larger
    than ``limit``.
    """
    skipped = set(skip) | {TIMESTAMP_FILE}
    files, _ = scan(folder, top_only=True)
    out: dict[str, bytes] = {}
    for f in files:
        if f.rel.endswith(".ipynb") or f.rel in skipped or f.rel.startswith(".") or f.size > limit:
            continue
        try:
            out[f.rel] = read_bounded(f.path, limit)
        except OSError:
            continue   # changed under us or grew past the limit: not handed over
    return out


def transport_files(folder: Path, limit: int = TRANSPORT_LIMIT) -> dict[str, bytes]:
    """The submission's top-level regular files, as a Dask worker rebuilds the folder from them."""
    files, _ = scan(folder, top_only=True)
    out: dict[str, bytes] = {}
    for f in files:
        if f.size > limit:
            continue
        try:
            out[f.rel] = read_bounded(f.path, limit)
        except OSError:
            continue
    return out


# ---------------------------------------------------------------- the archive

def archive_root(folder: Path) -> Path:
    """``submitted/<student>/.archive/<assignment>`` for ``folder`` = ``submitted/<student>/<assignment>``."""
    folder = Path(folder)
    return folder.parent / ARCHIVE / folder.name


def archive_stamp(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def archived(folder: Path) -> list[Path]:
    """The earlier submissions of ``folder``, oldest name first (folders only, never links)."""
    root = archive_root(folder)
    if not is_folder(root):
        return []
    return sorted(p for p in root.iterdir() if is_folder(p))


def archive_slot(folder: Path) -> Path:
    """A free archive folder for the submission now in ``folder``, named by its own time.

    With no usable timestamp.txt (made by hand?), the folder's own time orders it;
    ``-1``, ``-2``… are appended when the name is taken.
    """
    when = time_of(folder)
    if when is None:
        when = dt.datetime.fromtimestamp(os.lstat(folder).st_mtime, UTC)
    path = archive_root(folder) / archive_stamp(when)
    if not os.path.lexists(path):
        return path
    n = 1
    while os.path.lexists(path.with_name(f"{path.name}-{n}")):
        n += 1
    return path.with_name(f"{path.name}-{n}")


def is_submission_tree(root: Path, assignment: str) -> bool:
    """True when ``root`` looks like a ``submitted/`` folder holding ``assignment``."""
    try:
        students = [p for p in Path(root).iterdir() if is_folder(p)]
    except OSError:
        return False
    return any(is_folder(p / assignment) or is_folder(p / ARCHIVE / assignment) for p in students)
