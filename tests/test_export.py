"""autograder/export.py: grades.csv from the gradebook, the run records, overrides and lateness.

The state under test is what `autograder grade` leaves behind, built here the
same way: a real nbgrader assignment (generate_assignment into a real
gradebook), ``gb.add_submission`` with the timestamp and each cell's
``auto_score``, and one RunResult per submission appended to records.jsonl.
test_override.py and test_feedback.py build on the helpers of this module.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from _notebooks import tiny_source_notebook

from autograder.engine.results import CellResult, RecordedOutput, RunResult
from autograder.export import export, grade_rows, render_csv
from autograder.gradebook import open_gradebook
from classroom.cli import main
from coursebase.layout import Course, CourseError
from coursebase.vocabulary import Flag, Status

A = "01_demo"
UTC = dt.timezone.utc
DUE = dt.datetime(2026, 12, 7, 23, 59, tzinfo=UTC)
COURSE_TOML = """\
[course]
id = "demo-course"
language = "ru"

[late_policy]
kind = "per_day"
per_day = 0.1
max_penalty = 0.5
grace_minutes = 0

[assignments.01_demo]
due = "2026-12-07T23:59:00+00:00"

[extensions]
s003 = { 01_demo = "2026-12-20T23:59:00+00:00" }
"""
ROSTER = ["s001", "s002", "s003", "s004", "s005", "s006"]


_TEMPLATE: Path | None = None


def _template(base: Path) -> Path:
    """Build the released course once per test session (nbgrader takes seconds)."""
    global _TEMPLATE
    if _TEMPLATE is not None and _TEMPLATE.exists():
        return _TEMPLATE
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    root = base / "template-course"
    (root / "source" / A).mkdir(parents=True)
    nbformat.write(tiny_source_notebook("# Демо\nНапишите `answer()`."), root / "source" / A / "demo.ipynb")
    (root / "source" / A / "data.csv").write_text("x\n1\n")
    (root / "course.toml").write_text(COURSE_TOML)
    (root / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "demo-course"\n'
        'c.CourseDirectory.db_url = "sqlite:///gradebook.db"\n')
    course = Course.at(root)
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = "demo-course"
    config.CourseDirectory.db_url = course.db_url
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.generate_assignment(A)
    assert result["success"], result.get("error")
    with open_gradebook(course.db_url) as gb:
        for student in ROSTER:
            gb.add_student(student, first_name="Имя", last_name=student.upper())
    _TEMPLATE = root
    return root


def make_course(tmp_path: Path, tmp_path_factory) -> Course:
    """A fresh copy of the released demo course with a six-student roster."""
    root = tmp_path / "course"
    shutil.copytree(_template(tmp_path_factory.getbasetemp()), root)
    return Course.at(root)


def record_run(course: Course, student: str, status: Status, scores: dict[str, float | None],
               submitted_at: dt.datetime, *, flags: dict[str, str] | None = None, message: str = "",
               outputs: list[dict] | None = None, ran: dict[str, bool] | None = None,
               in_gradebook: bool = True, write_record: bool = True) -> RunResult:
    """Leave exactly what the grade step leaves for one submission."""
    folder = course.submission_dir(student, A)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(course.release_notebook(A), folder / "demo.ipynb")
    (folder / "timestamp.txt").write_text(submitted_at.isoformat() + "\n")
    max_scores = {"t1": 2.0, "t2": 3.0}
    if in_gradebook:
        with open_gradebook(course.db_url) as gb:
            try:
                gb.find_submission(A, student)
            except Exception:
                gb.add_submission(A, student, timestamp=submitted_at)
            for grade_id, score in scores.items():
                gb.find_grade(grade_id, "demo", A, student).auto_score = score
            gb.db.commit()
    result = RunResult(
        student_id=student, assignment=A, status=status,
        cells=[CellResult(g, max_scores[g], s, ran=(ran or {}).get(g, True),
                          error="" if s == max_scores[g] else "AssertionError")
               for g, s in scores.items()],
        flags={Flag(k): v for k, v in (flags or {}).items()}, message=message, duration=0.5,
        outputs=[RecordedOutput.from_json(o, i) for i, o in enumerate(outputs or [])],
        audit={"submission_sha256": "0" * 64})
    if write_record:
        course.records.parent.mkdir(parents=True, exist_ok=True)
        with course.records.open("a", encoding="utf-8") as fh:
            fh.write(result.dumps() + "\n")
    return result


def graded_cohort(course: Course, outputs: list[dict] | None = None) -> None:
    """Every case export must tell apart, one student each."""
    on_time = dt.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    record_run(course, "s001", Status.GRADED, {"t1": 2.0, "t2": 3.0}, on_time, outputs=outputs)
    # two started days late: 2 * 10 % of 5 points
    record_run(course, "s002", Status.GRADED, {"t1": 2.0, "t2": 0.0}, DUE + dt.timedelta(days=1, hours=1))
    # late against the due date, but s003 has an extension in course.toml
    record_run(course, "s003", Status.TIMEOUT, {"t1": 2.0, "t2": 0.0}, DUE + dt.timedelta(days=3),
               ran={"t2": False}, flags={"tampered": "test cell t1 was edited; restored"},
               message="cell 5 ran past the 60 s cell limit")
    record_run(course, "s004", Status.FAILED, {"t1": 0.0, "t2": 0.0}, on_time,
               message="the notebook is not valid JSON (line 3, column 1)")
    # s005: on the roster, nothing submitted
    # s006: collected, never graded
    folder = course.submission_dir("s006", A)
    folder.mkdir(parents=True)
    shutil.copy(course.release_notebook(A), folder / "demo.ipynb")
    (folder / "timestamp.txt").write_text(on_time.isoformat() + "\n")


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


@pytest.fixture
def course(tmp_path, tmp_path_factory) -> Course:
    return make_course(tmp_path, tmp_path_factory)


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_every_case_has_its_status_flags_and_scores(course):
    graded_cohort(course)
    result = export(course)
    assert result.path == course.exports / "grades.csv"
    rows = read_csv(result.path)
    header = result.path.read_text().splitlines()[0].split(",")
    assert header == ["student_id", "assignment", "status", "flags", "raw_score", "late_submission_penalty",
                      "score", "max_score", "message", "01_demo:t1", "01_demo:t2"]
    assert set(rows) == set(ROSTER)

    s1 = rows["s001"]
    assert (s1["status"], s1["flags"], s1["raw_score"], s1["late_submission_penalty"], s1["score"],
            s1["max_score"], s1["01_demo:t1"], s1["01_demo:t2"]) == ("graded", "", "5.0", "0.0", "5.0",
                                                                   "5.0", "2.0", "3.0")
    s2 = rows["s002"]
    assert (s2["status"], s2["flags"], s2["raw_score"], s2["late_submission_penalty"], s2["score"]) == \
        ("graded", "late", "2.0", "1.0", "1.0")
    assert "2 days late (due 2026-12-07T23:59:00+00:00), penalty 1" in s2["message"]
    s3 = rows["s003"]
    assert (s3["status"], s3["flags"], s3["raw_score"], s3["late_submission_penalty"], s3["score"]) == \
        ("timeout", "tampered", "2.0", "0.0", "2.0")
    assert "60 s cell limit" in s3["message"]
    # failed: scores empty, never 0.0, and the message says why
    s4 = rows["s004"]
    assert (s4["status"], s4["raw_score"], s4["score"], s4["01_demo:t1"], s4["max_score"]) == \
        ("failed", "", "", "", "5.0")
    assert "not valid JSON" in s4["message"]
    s5 = rows["s005"]
    assert (s5["status"], s5["raw_score"], s5["late_submission_penalty"], s5["score"], s5["01_demo:t2"]) == \
        ("missing", "", "", "", "")
    s6 = rows["s006"]
    assert (s6["status"], s6["score"]) == ("failed", "")
    assert "not graded yet" in s6["message"]


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_the_newest_record_wins_and_gradebook_scores_are_authoritative(course):
    when = dt.datetime(2026, 12, 1, tzinfo=UTC)
    record_run(course, "s001", Status.CRASHED, {"t1": 2.0, "t2": 0.0}, when, message="kernel died")
    record_run(course, "s001", Status.GRADED, {"t1": 2.0, "t2": 3.0}, when)   # a regrade
    row = next(r for r in grade_rows(course, students=["s001"]))
    assert (row.status, row.raw_score, row.message) == (Status.GRADED, 5.0, "")


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_a_submission_graded_by_nbgrader_itself_counts_as_graded(course):
    # e.g. `nbgrader autograde` on the same gradebook: scores, no run record
    record_run(course, "s001", Status.GRADED, {"t1": 2.0, "t2": 0.0},
               dt.datetime(2026, 12, 1, tzinfo=UTC), write_record=False)
    row = grade_rows(course, students=["s001"])[0]
    assert (row.status, row.raw_score, row.record) == (Status.GRADED, 2.0, None)
    assert row.message.startswith("graded outside the autograder (no run record)")
    # never accepted silently: the scores were not written by the autograder
    assert "not written by the autograder" in row.flags["tampered"]


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_reject_policy_and_flag_order(course):
    (course.root / "course.toml").write_text(COURSE_TOML.replace('kind = "per_day"', 'kind = "reject"'))
    record_run(course, "s002", Status.GRADED, {"t1": 2.0, "t2": 3.0}, DUE + dt.timedelta(hours=1),
               flags={"attack": "patched torch.allclose"})
    row = grade_rows(course, students=["s002"])[0]
    assert list(row.flags) == ["attack", "late"]
    assert (row.raw_score, row.late_penalty, row.score) == (5.0, 5.0, 0.0)


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_cli_writes_where_asked_and_names_unknown_course_state(course, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    graded_cohort(course)
    out = tmp_path / "lms" / "grades.csv"
    assert main(["--course", str(course.root), "export", "--out", str(out)]) == 0
    assert read_csv(out)["s001"]["score"] == "5.0"
    printed = capsys.readouterr().out
    assert "01_demo" in printed and "mean score" in printed and f"6 rows written to {out}" in printed

    empty = Course.at(tmp_path / "lms")
    with pytest.raises(CourseError, match="no gradebook at"):
        export(empty)
    with pytest.raises(CourseError, match="assignment '99_nope' is not in the gradebook"):
        grade_rows(course, assignments=["99_nope"])


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_render_csv_is_pure_and_leaves_other_assignments_cells_empty(course):
    graded_cohort(course)
    rows = grade_rows(course)
    text, columns = render_csv(rows)
    assert columns == ["01_demo:t1", "01_demo:t2"]
    assert text.count("\n") == len(ROSTER) + 1
    # a row of another assignment has no value in this assignment's cell columns
    other = rows[0].__class__(**{**rows[0].__dict__, "assignment": "02_other", "cells": []})
    text, columns = render_csv(rows[:1] + [other])
    assert text.splitlines()[-1].endswith(",,")


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_records_file_is_json_lines_the_grade_step_appends(course):
    graded_cohort(course)
    lines = course.records.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["assignment"] == A for line in lines)
