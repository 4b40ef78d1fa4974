"""What the LMS holds for the demo: one zip download per assignment and the roster.

:class:`Upload` is one student's files for one assignment with its upload time.
:func:`lms_zip` writes them the way an LMS exports an assignment (``<id>_<Name>/`` per
student, every entry dated with the upload time in the Info-ZIP UTC field, as Moodle's
download does), which is what ``autograder collect`` reads; :func:`write_roster` writes the
CSV ``autograder roster import`` reads. Both create the parent folder and overwrite nothing
but their own output file.
"""
from __future__ import annotations

import datetime as dt
import zipfile
from dataclasses import dataclass
from pathlib import Path

from classroom.demo.cohort import SimStudent


@dataclass
class Upload:
    """One student's files for one assignment, as the LMS holds them."""
    student: SimStudent
    assignment: str
    notebook: Path
    submitted_at: dt.datetime
    csv: Path | None = None


def lms_zip(path: Path, uploads: list[Upload]) -> Path:
    """One zip the way an LMS exports an assignment: ``<id>_<Name>/`` with the notebook and any
    attachment, each entry dated with the upload time (Info-ZIP UTC field, as Moodle's download does)."""
    import struct

    def entry(folder: str, name: str, when: dt.datetime) -> zipfile.ZipInfo:
        utc = when.astimezone(dt.timezone.utc)
        info = zipfile.ZipInfo(f"{folder}/{name}", date_time=utc.timetuple()[:6])
        info.extra = struct.pack("<HHBi", 0x5455, 5, 1, int(utc.timestamp()))
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for upload in uploads:
            folder = f"{upload.student.student_id}_{upload.student.folder_name}"
            zf.writestr(entry(folder, upload.notebook.name, upload.submitted_at), upload.notebook.read_bytes())
            if upload.csv is not None:
                zf.writestr(entry(folder, "submission.csv", upload.submitted_at), upload.csv.read_bytes())
    return path


def write_roster(path: Path, students: list[SimStudent]) -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "first_name", "last_name", "email"])
        for s in students:
            writer.writerow([s.student_id, s.first_name, s.last_name, f"{s.student_id}@students.example.org"])
    return path


