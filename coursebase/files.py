"""Writing a file so that a reader never sees half of it: the one atomic-write helper.

:func:`write_atomic` writes into a hidden sibling (``.NAME.partial``), flushes it, and renames it
over the target: a reader, or a run killed mid-write, sees the old file or the new one. The
sibling is opened without following a link, so a link planted under that name is replaced, never
written through; on any error it is removed and the target is left as it was.
"""
from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path | str, data: str | bytes, *, mode: int = 0o644) -> Path:
    """Replace ``path`` with ``data`` (str is written as UTF-8), creating its folder; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        os.unlink(partial)   # a leftover of a killed run, or a planted link: never written through
    except FileNotFoundError:
        pass
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, path)
    except BaseException:
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise
    return path
