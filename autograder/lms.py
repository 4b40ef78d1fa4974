"""Grade files an LMS imports: Canvas and Moodle gradebook CSVs, statuses apart, Gradescope-style results.

Written by ``autograder grades`` (the three CSVs, next to ``final_grades.csv``)
and ``autograder export`` (``results.json`` per submission). The renderers are
pure; :func:`write_lms_files` and :func:`write_results` are the I/O edge.

Column rules (what the LMS matches on and reads):

* ``exports/canvas_grades.csv``: Canvas's gradebook import format. Identifier
  columns ``Student, ID, SIS User ID, SIS Login ID, Section`` (Canvas matches a
  line by ``ID``, else ``SIS User ID``, else ``SIS Login ID``; the values come
  from the imported Canvas roster, else ``SIS User ID`` is our student id),
  then one column per weighted part and ``Final grade (%)``. The second line is
  Canvas's ``Points Possible`` line. Score cells hold a number or nothing.
* ``exports/moodle_grades.csv``: Moodle's grade import (CSV) format.
  Identifier columns ``First name, Last name, ID number, Email address``
  (map "ID number" or "Email address" to the user when importing), then one
  column per part and ``Final grade (%)``. Score cells hold a number or nothing.
* ``exports/final_statuses.csv``: the words that must not be in a score
  column: ``student_id, part, status, flags, message``, one line per student
  and part, plus a ``final`` line with the final status.
* ``exports/results/<assignment>/<student>/results.json``: Gradescope's
  autograder results format (``score``, ``execution_time``, ``output``, one
  ``tests`` entry per graded cell with ``name, score, max_score, status``
  (``passed``/``failed``) and ``output``), plus ``extra_data`` with our status,
  flags and late penalty. Hidden tests are never quoted (the judge's verdicts
  never quote them).

A part with no score (``missing``, ``failed``...) leaves its score cell
empty in the LMS files; it counts as 0 in ``Final grade (%)``, as in
``final_grades.csv``, and its status is in ``final_statuses.csv``.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from coursebase.files import write_atomic
from coursebase.vocabulary import Status

FINAL_COLUMN = "Final grade (%)"
CANVAS_IDS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_IDS = ["First name", "Last name", "ID number", "Email address"]


def _num(value: float | None) -> str:
    return "" if value is None else f"{round(float(value), 4):g}"


def _part_columns(names: list[str]) -> list[str]:
    return list(names) + [FINAL_COLUMN]


def _scores(grade, names: list[str]) -> list[str]:
    return [_num(grade.part(n).component.score) for n in names] + [_num(grade.percent)]


def _column(columns: dict[str, str], wanted: str) -> str:
    """A roster column by its name, however the LMS capitalised or spaced it."""
    key = wanted.strip().lower().replace(" ", "_")
    for name, value in columns.items():
        if name.strip().lower().replace(" ", "_").replace("-", "_") == key:
            return value
    return ""


def canvas_csv(grades, names: list[str], lms_roster: dict[str, dict], people: dict[str, tuple]) -> str:
    """Canvas gradebook import CSV (pure). ``people``: student_id -> (first, last, email, lms_user_id)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CANVAS_IDS + _part_columns(names))
    maxima = []
    for name in names:
        maxima.append(_num(grades[0].part(name).component.max_score) if grades else "")
    writer.writerow(["Points Possible", "", "", "", ""] + maxima + ["100"])
    for grade in grades:
        roster = lms_roster.get(grade.student_id, {})
        columns = roster.get("columns", {}) if roster.get("format") == "canvas" else {}
        first, last, _, lms_id = people.get(grade.student_id, (None, None, None, None))
        sortable = ", ".join(p for p in (last, first) if p) or grade.student_name or grade.student_id
        if columns:
            ids = [_column(columns, "Student") or sortable, _column(columns, "ID") or (lms_id or ""),
                   _column(columns, "SIS User ID"), _column(columns, "SIS Login ID"), _column(columns, "Section")]
        else:
            ids = [sortable, lms_id or "", grade.student_id, "", ""]
        writer.writerow(ids + _scores(grade, names))
    return out.getvalue()


def moodle_csv(grades, names: list[str], lms_roster: dict[str, dict], people: dict[str, tuple]) -> str:
    """Moodle grade import CSV (pure)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MOODLE_IDS + _part_columns(names))
    for grade in grades:
        first, last, email, _ = people.get(grade.student_id, (None, None, None, None))
        roster = lms_roster.get(grade.student_id, {})
        columns = roster.get("columns", {}) if roster.get("format") == "moodle" else {}
        id_number = _column(columns, "ID number") or grade.student_id
        email = _column(columns, "Email address") or email or ""
        if first is None and last is None:
            last = grade.student_name or ""
        writer.writerow([first or "", last or "", id_number, email] + _scores(grade, names))
    return out.getvalue()


def statuses_csv(grades, names: list[str]) -> str:
    """Statuses, flags and messages, one line per (student, part) and a ``final`` line (pure)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student_id", "part", "status", "flags", "message"])
    for grade in grades:
        for name in names:
            part = grade.part(name)
            c = part.component
            writer.writerow([grade.student_id, name, c.status, ";".join(c.flags), part.note or c.message])
        writer.writerow([grade.student_id, "final", grade.status.value, "", grade.message])
    return out.getvalue()


def _write(path: Path, text: str) -> Path:
    write_atomic(path, text)
    return path


def people_from_gradebook(course) -> dict[str, tuple]:
    from autograder.gradebook import open_gradebook

    with open_gradebook(course.db_url) as gb:
        return {s.id: (s.first_name, s.last_name, s.email, s.lms_user_id) for s in gb.students}


def write_lms_files(course, grades, names: list[str]) -> dict[str, Path]:
    """canvas_grades.csv, moodle_grades.csv and final_statuses.csv in ``exports/``."""
    from autograder.roster import load_lms_roster

    lms = load_lms_roster(course)
    people = people_from_gradebook(course)
    return {
        "canvas": _write(course.exports / "canvas_grades.csv", canvas_csv(grades, names, lms, people)),
        "moodle": _write(course.exports / "moodle_grades.csv", moodle_csv(grades, names, lms, people)),
        "statuses": _write(course.exports / "final_statuses.csv", statuses_csv(grades, names)),
    }


# ---------------------------------------------------------------- Gradescope-style results.json

def results_json(row) -> dict:
    """Gradescope's results.json for one :class:`autograder.export.GradeRow` (pure)."""
    verdicts = {c.grade_id: c for c in (row.record.cells if row.record else [])}
    tests = []
    for cell in row.cells:
        verdict = verdicts.get(cell.grade_id)
        passed = cell.score is not None and cell.score >= cell.max_score
        output = ""
        if verdict is not None:
            output = "not run: grading stopped before this cell" if not verdict.ran else verdict.error
        if cell.score is None:
            output = output or "waiting for a manual grade"
        tests.append({"name": cell.grade_id, "score": cell.score, "max_score": cell.max_score,
                      "status": "passed" if passed else "failed", "output": output})
    return {
        "score": row.score if row.score is not None else 0.0,
        "execution_time": round(row.record.duration, 3) if row.record else 0,
        "output": row.message,
        "tests": tests,
        "extra_data": {"student_id": row.student_id, "assignment": row.assignment, "status": row.status.value,
                       "flags": dict(row.flags), "raw_score": row.raw_score, "late_penalty": row.late_penalty,
                       "max_score": row.max_score},
    }


def write_results(course, rows) -> list[Path]:
    """results.json of every submission that has one (not ``missing``) under ``exports/results/``."""
    written = []
    for row in rows:
        if row.status == Status.MISSING:
            continue
        target = course.exports / "results" / row.assignment / row.student_id / "results.json"
        written.append(_write(target, json.dumps(results_json(row), indent=1, ensure_ascii=False, sort_keys=True)))
    return written
