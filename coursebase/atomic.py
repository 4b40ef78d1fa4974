"""Writing the course's own output files whole or not at all.

:func:`write_text` is the one way a command replaces a file it produces (exports,
reports, LMS files, the roster's LMS columns, graded notebooks, the competition's
files): the text goes to a hidden ``.<name>.partial`` beside the target, then
``os.replace`` puts it in place, so a reader (a spreadsheet, the formgrader, a
browser, a second command) sees the old file or the new one, never half of one;
a crash leaves at most the hidden partial file, which the next write replaces.

For files the course produces, in folders the instructor owns; never for anything
a student handed in (those are read through :mod:`coursebase.submission` and
never written).
"""
from __future__ import annotations

import os
from pathlib import Path


def write_text(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) atomically, creating its folder; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    return path
