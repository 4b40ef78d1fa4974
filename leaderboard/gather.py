"""Find the submission CSVs to score, with their student and submission time.

Two layouts are understood:

* a course's ``submitted/`` tree, as ``autograder collect`` writes it::

      submitted/<student>/<assignment>/submission.csv + timestamp.txt
      submitted/<student>/.archive/<assignment>/<stamp>/submission.csv + timestamp.txt

* a flat folder of CSV files named with the course's ``collect.pattern``
  (default ``<student_id>_<anything>.csv``). Such files carry no timestamp, so the
  file's modification time is used, and :class:`Gathered` says so.

Nothing found is dropped silently: files that cannot be attributed are listed in
``Gathered.skipped`` with the reason.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from coursebase import submission  # the one owner of a submission folder: files, time, archive
from coursebase.timestamp import parse_timestamp  # noqa: F401  (one parser for every time in the course)
from leaderboard.records import LeaderboardError

CSV_NAME = "submission.csv"
TIMESTAMP = submission.TIMESTAMP_FILE
TREE, FLAT = "submitted tree", "flat folder"


@dataclass(frozen=True)
class SubmissionFile:
    student_id: str
    path: Path
    submitted_at: dt.datetime       # aware, UTC
    time_source: str                # "timestamp.txt" or "file time"
    note: str = ""                  # e.g. an unreadable timestamp.txt


@dataclass
class Gathered:
    layout: str
    files: list[SubmissionFile] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        out = []
        if self.layout == FLAT and self.files:
            out.append("times come from the files' modification times: a flat folder has no timestamp.txt")
        out += [f"{f.path}: {f.note}" for f in self.files if f.note]
        out += [f"skipped {path}: {reason}" for path, reason in self.skipped]
        return out


def _file_time(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.lstat().st_mtime, tz=dt.timezone.utc)


def _from_folder(student: str, folder: Path) -> SubmissionFile:
    csv_path = folder / CSV_NAME
    try:
        when = submission.read_time(folder)
    except ValueError as exc:
        return SubmissionFile(student, csv_path, _file_time(csv_path), "file time",
                              f"timestamp.txt unreadable ({exc}); used the file's modification time")
    if when is not None:
        return SubmissionFile(student, csv_path, when, TIMESTAMP)
    return SubmissionFile(student, csv_path, _file_time(csv_path), "file time",
                          "no timestamp.txt; used the file's modification time")


def is_tree(path: Path, assignment: str) -> bool:
    return submission.is_submission_tree(path, assignment)


def gather_tree(root: Path, assignment: str) -> Gathered:
    found = Gathered(TREE)
    for student_dir in sorted(p for p in root.iterdir() if submission.is_folder(p) and not p.name.startswith(".")):
        student = student_dir.name
        current = student_dir / assignment
        for folder in [current, *submission.archived(current)]:
            if not submission.is_folder(folder):
                continue
            if os.path.lexists(folder / CSV_NAME):      # whatever it is: readfile says if it is not a file
                found.files.append(_from_folder(student, folder))
            else:
                others = sorted(p.name for p in folder.glob("*.csv"))
                if others:
                    found.skipped.append((folder, f"no {CSV_NAME} (found {', '.join(others)}); the "
                                                  f"notebook must write {CSV_NAME}"))
    return found


def gather_flat(root: Path, pattern: str) -> Gathered:
    found = Gathered(FLAT)
    regex = re.compile(pattern)
    for path in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if path.is_dir() and not path.is_symlink():
            found.skipped.append((path, "a folder in a flat folder of CSV files (and no submitted/ layout)"))
            continue
        if path.suffix.lower() != ".csv":
            found.skipped.append((path, "not a .csv file"))
            continue
        match = regex.match(path.name)
        if not match or not match.group("student_id"):
            found.skipped.append((path, f"the name does not match collect.pattern {pattern!r}, so its "
                                        f"student is unknown; rename it <student_id>_<anything>.csv"))
            continue
        found.files.append(SubmissionFile(match.group("student_id"), path, _file_time(path), "file time"))
    return found


def gather(path: str | Path, assignment: str, pattern: str) -> Gathered:
    """Every submission file under ``path`` (a submitted/ tree or a flat folder)."""
    root = Path(path)
    if not root.is_dir():
        raise LeaderboardError(f"{root} is not a folder. Pass a course's submitted/ folder or a folder of "
                               f"CSV files named <student_id>_<anything>.csv.")
    found = gather_tree(root, assignment) if is_tree(root, assignment) else gather_flat(root, pattern)
    found.files.sort(key=lambda f: (f.submitted_at, f.student_id, str(f.path)))
    return found
