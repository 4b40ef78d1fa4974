"""Files handed over between a test (in the judge) and student code (in the sandbox).

A test may give a student function a path in the exchange folder (the judge's
``tempfile.mkdtemp()``) and then read what it wrote. Everything in that folder
could have been planted by the student, so while a test runs, every ``open`` of
a path inside it (``open``, ``io.open``, ``os.open``, and so pandas, NumPy and
torch readers too) is first checked here:

* no component below the exchange folder may be a symbolic link (each one is
  opened with ``O_NOFOLLOW``, relative to the one before), nor ``..``;
* the file itself is opened non-blocking (a FIFO cannot stall the check) and
  must be a regular file (or a folder) of at most ``cap`` bytes.

Anything else raises :class:`UnsafeFile`, whose message says in plain words
what the path is and that the grader reads only regular files the student's
code wrote; the judge fails the test with it and raises the ``attack`` flag.
The check runs in an audit hook (:func:`sys.addaudithook`), so it holds for any
reader a test uses. Between the check and the real open the student could swap
the file; the judge is confined (it sees no host file), has a memory limit, and
:func:`wall_clock` bounds every test in wall-clock time, so a swap gains nothing.
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
import signal
import stat
import sys
import threading


class UnsafeFile(PermissionError):
    """A path in the exchange folder that the grader refuses to open; the message is for the student."""


class JudgeDeadline(BaseException):
    """The test ran past its wall-clock deadline inside the judge (not an Exception: a test cannot catch it)."""


_NOT_REGULAR = [(stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                (stat.S_ISSOCK, "a socket")]
_WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def check(path: str, root: str, cap: int, creating: bool = False) -> None:
    """Raise :class:`UnsafeFile` unless ``path`` (absolute, inside ``root``) is safe to open.

    Safe: no symbolic link and no ``..`` below ``root``; the final entry is a
    regular file of at most ``cap`` bytes or a folder, or (``creating``) does
    not exist yet. Paths outside ``root`` are not this function's business.
    """
    parts = _below(path, root)
    if parts is None:
        return
    if ".." in parts:
        raise UnsafeFile(f"{path} goes up a folder with '..'; the grader reads only plain paths your code wrote")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for depth, name in enumerate(parts):
            shown = "/".join([root.rstrip("/"), *parts[:depth + 1]])
            last = depth == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
            try:
                nxt = os.open(name, flags | (0 if last else os.O_DIRECTORY), dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and _is_link(name, fd)):
                    raise UnsafeFile(f"{shown} is a symbolic link; the grader reads only regular files "
                                     "your code wrote") from None
                return  # missing, not a folder, no access: the real open fails by itself
            os.close(fd)
            fd = nxt
        info = os.fstat(fd)
    finally:
        os.close(fd)
    if stat.S_ISREG(info.st_mode):
        if info.st_size > cap and not creating:
            raise UnsafeFile(f"{path} is larger ({info.st_size >> 20} MB) than the {cap >> 20} MB the grader "
                             "reads from a file your code wrote")
        return
    if stat.S_ISDIR(info.st_mode):
        return  # opening a folder reads nothing (open() itself refuses it as a file)
    kind = next((what for test, what in _NOT_REGULAR if test(info.st_mode)), "not a regular file")
    raise UnsafeFile(f"{path} is {kind}; the grader reads only regular files your code wrote")


def _below(path: str, root: str) -> list[str] | None:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    base = [p for p in root.split("/") if p not in ("", ".")]
    if parts[:len(base)] == base:
        return parts[len(base):]
    if ".." in parts and _below(os.path.normpath(path), root) is not None:
        return [".."]  # e.g. /x/../exchange/...: reaches the folder through '..'
    return None


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


class Guard:
    """While active, every open of a path inside ``root`` is checked; refusals are kept in ``refused``."""

    def __init__(self, root: str, cap: int):
        self.root = os.path.abspath(root)
        self.cap = cap
        self.refused: list[str] = []

    @contextlib.contextmanager
    def active(self):
        _install()
        _state.guard = self
        try:
            yield self
        finally:
            _state.guard = None

    def on_open(self, args: tuple) -> None:
        path = args[0] if args else None
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return  # an already open descriptor (os.fdopen) or a path-like we did not make
        mode, flags = (args[1] if len(args) > 1 else None), (args[2] if len(args) > 2 else 0)
        creating = bool((flags or 0) & _WRITES) or (isinstance(mode, str) and any(c in mode for c in "wax+"))
        if not path.startswith("/"):
            path = os.path.join(os.getcwd(), path)
        try:
            check(path, self.root, self.cap, creating=creating)
        except UnsafeFile as exc:
            self.refused.append(str(exc))
            raise


class _State(threading.local):
    guard: Guard | None = None
    busy: bool = False


_state = _State()
_installed = False


def _hook(event: str, args: tuple) -> None:
    if event != "open":
        return
    guard = _state.guard
    if guard is None or _state.busy:
        return
    _state.busy = True  # the check opens files itself
    try:
        guard.on_open(args)
    finally:
        _state.busy = False


def _install() -> None:
    """Add the audit hook once per process (hooks cannot be removed; it does nothing while no guard is active)."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


@contextlib.contextmanager
def wall_clock(seconds: float):
    """Raise :class:`JudgeDeadline` in this (main) thread after ``seconds`` of wall-clock time."""
    if threading.current_thread() is not threading.main_thread() or not math.isfinite(seconds):
        yield   # no deadline asked for (or none possible off the main thread)
        return

    def expired(signum, frame):
        raise JudgeDeadline("the test ran past its time limit inside the grader")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, max(0.05, seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
