"""The course the demo starts from, and the demo's fresh copy of it.

The course is the repository's own: ``source/`` (the six assignments' instructor notebooks),
``course.toml`` and ``nbgrader_config.py``. It ships with the package as package data under
``classroom/demo/course/``; in the repository that folder holds only relative symbolic links to
the three (``../../../source`` ...), so there is no second copy of the notebooks to keep in step,
and building a wheel (setuptools follows the links) puts the real files into it. The demo therefore
finds its course the same way in a checkout, an editable install and a plain ``pip install .``:
:func:`course_files` returns that folder, or raises :class:`~classroom.demo.DemoError` naming what
is missing and what to do.

:func:`make_course` copies it into a new or empty folder (anything else is refused before a file
is written, so nothing of the user's is touched) with ``course.toml``'s limits shortened to
:data:`DEMO_LIMITS` (:func:`rewrite_limits`: those keys set, every other line kept) and checked
by reading the copy back with the course's own policy reader.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from classroom.demo import DemoError
from coursebase.layout import Course
from coursebase.policy import load_policy

COURSE_FILES = Path(__file__).resolve().parent / "course"
NEEDED = ("source", "course.toml", "nbgrader_config.py")
# Short limits so the endless loop and the memory hog cost seconds, not minutes.
DEMO_LIMITS = {"cell_timeout": 10, "notebook_timeout": 60, "memory_mb": 1024}


def course_files(where: Path = COURSE_FILES) -> Path:
    """The folder holding the demo's course (source/, course.toml, nbgrader_config.py), checked."""
    missing = [name for name in NEEDED if not (where / name).exists()]
    if missing:
        raise DemoError(f"{where}: the demo's course files are missing ({', '.join(missing)}). In a checkout they "
                        f"are links to the repository's own source/, course.toml and nbgrader_config.py: restore them "
                        f"with `git checkout -- classroom/demo/course`; in an installed package, reinstall it.")
    return where


def rewrite_limits(text: str, limits: dict[str, int]) -> str:
    """course.toml text with these [limits] keys set (added if absent), everything else kept."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "[limits]"), None)
    if start is None:
        return text.rstrip("\n") + "\n\n[limits]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items())
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    todo = dict(limits)
    for i in range(start + 1, end):
        match = re.match(r"^(\s*)(\w+)(\s*=\s*)[^#]*?(\s*#.*)?$", lines[i])
        if match and match.group(2) in todo:
            comment = (match.group(4) or "").strip()
            lines[i] = (f"{match.group(1)}{match.group(2)}{match.group(3)}{todo.pop(match.group(2))}"
                        + (f"   {comment} (shortened for the demo)" if comment else ""))
    lines[end:end] = [f"{k} = {v}" for k, v in todo.items()]
    return "\n".join(lines) + "\n"


def make_course(root: Path, template: Path | None = None) -> Course:
    """Copy the course (:func:`course_files`, or ``template``) into the new or empty ``root``, with demo limits."""
    origin = course_files(template or COURSE_FILES)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise DemoError(f"{root} is not empty; the demo builds a fresh course there. Give a new or empty folder "
                        f"with --course, or leave it out to use a temporary folder.")
    shutil.copytree(origin / "source", root / "source",
                    ignore=shutil.ignore_patterns("data", "submission.csv", ".ipynb_checkpoints", "__pycache__"))
    # copied as is: its gradebook path is relative to its own folder, so the copy uses its own gradebook
    shutil.copy(origin / "nbgrader_config.py", root / "nbgrader_config.py")
    policy_text = rewrite_limits((origin / "course.toml").read_text(encoding="utf-8"), DEMO_LIMITS)
    (root / "course.toml").write_text(policy_text, encoding="utf-8")
    limits = load_policy(root).limits
    for key, value in DEMO_LIMITS.items():
        if getattr(limits, key) != value:   # the rewrite must have taken effect
            raise DemoError(f"{root / 'course.toml'}: could not set limits.{key} = {value}")
    return Course.at(root)
