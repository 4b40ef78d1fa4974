"""autograder/override.py: manual scores in nbgrader's gradebook, their reasons, and `review`."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from autograder.export import export, grade_rows
from autograder.gradebook import open_gradebook
from autograder.override import OverrideError, override, overrides_path
from autograder.review import review
from classroom.cli import main
from coursebase.vocabulary import Status

try:   # the course builder lives with the export tests (same state the grade step leaves)
    from test_export import A, graded_cohort, make_course, read_csv, record_run
except ImportError:  # pragma: no cover - tests/ imported as a package
    from tests.test_export import A, graded_cohort, make_course, read_csv, record_run

UTC = dt.timezone.utc
WHEN = dt.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def course(tmp_path, tmp_path_factory):
    course = make_course(tmp_path, tmp_path_factory)
    graded_cohort(course)
    return course


def grade_of(course, student: str, cell: str):
    with open_gradebook(course.db_url) as gb:
        grade = gb.find_grade(cell, "demo", A, student)
        return grade.auto_score, grade.manual_score, grade.score


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_override_sets_nbgraders_manual_score_and_logs_the_reason(course):
    entry = override(course, "s002", A, "t2", 2.5, "  off-by-one in the test, answer is right  ")
    assert grade_of(course, "s002", "t2") == (0.0, 2.5, 2.5)
    logged = [json.loads(line) for line in overrides_path(course).read_text().splitlines()]
    assert len(logged) == 1
    assert {k: logged[0][k] for k in ("student_id", "assignment", "grade_id", "points", "reason")} == {
        "student_id": "s002", "assignment": A, "grade_id": "t2", "points": 2.5,
        "reason": "off-by-one in the test, answer is right"}
    assert dt.datetime.fromisoformat(logged[0]["at"]).utcoffset() == dt.timedelta(0)
    assert entry.reason == "off-by-one in the test, answer is right"

    rows = read_csv(export(course).path)
    assert rows["s002"]["flags"] == "late;override"
    assert rows["s002"]["01_demo:t2"] == "2.5"
    assert rows["s002"]["raw_score"] == "4.5"
    assert "override t2 = 2.5 (off-by-one in the test, answer is right)" in rows["s002"]["message"]


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_override_survives_a_forced_regrade(course):
    override(course, "s001", A, "t1", 1.0, "copied from a classmate, half credit")
    # a --force regrade writes auto_score and a new record, never manual_score
    record_run(course, "s001", Status.GRADED, {"t1": 2.0, "t2": 3.0}, WHEN)
    assert grade_of(course, "s001", "t1") == (2.0, 1.0, 1.0)
    row = grade_rows(course, students=["s001"])[0]
    assert (row.raw_score, list(row.flags)) == (4.0, ["override"])
    assert row.cells[0].override_reason == "copied from a classmate, half credit"


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_a_second_override_replaces_the_first_and_its_reason(course):
    override(course, "s001", A, "t1", 1.0, "first look")
    override(course, "s001", A, "t1", 2.0, "second look: full marks after all")
    row = grade_rows(course, students=["s001"])[0]
    assert row.cells[0].manual_score == 2.0
    assert row.cells[0].override_reason == "second look: full marks after all"
    assert len(overrides_path(course).read_text().splitlines()) == 2


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_manual_score_set_in_the_formgrader_is_flagged_without_a_reason(course):
    with open_gradebook(course.db_url) as gb:
        gb.find_grade("t1", "demo", A, "s001").manual_score = 0.5
        gb.db.commit()
    row = grade_rows(course, students=["s001"])[0]
    assert "override" in row.flags
    assert "outside `autograder override`" in row.cells[0].override_reason


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
@pytest.mark.parametrize("args, message", [
    (("s001", A, "t9", 1.0, "why"), "01_demo has no graded cell 't9'; its graded cells are: t1 (2 points), t2 (3 points)"),
    (("s001", A, "answer", 1.0, "why"), "has no graded cell 'answer'"),
    (("s001", A, "t1", 2.5, "why"), "2.5 points is out of range for 01_demo:t1, which is worth 0 to 2"),
    (("s001", A, "t1", -1.0, "why"), "-1 points is out of range"),
    (("s001", A, "t1", float("nan"), "why"), "points must be a number"),
    (("s001", A, "t1", 1.0, "   "), "an override needs a reason"),
    (("s999", A, "t1", 1.0, "why"), "student 's999' is not in the gradebook"),
    (("s001", "09_nope", "t1", 1.0, "why"), "assignment '09_nope' is not in the gradebook (known: 01_demo)"),
    (("s005", A, "t1", 1.0, "why"), "s005 has no submission of 01_demo in the gradebook"),
])
def test_bad_overrides_change_nothing(course, args, message):
    before = hashlib.sha256(course.gradebook_path.read_bytes()).hexdigest()
    with pytest.raises(OverrideError) as raised:
        override(course, *args)
    assert message in str(raised.value)
    assert "nothing was changed" in str(raised.value).lower()
    assert hashlib.sha256(course.gradebook_path.read_bytes()).hexdigest() == before
    assert not overrides_path(course).exists()


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_cli_override_and_its_errors(course, capsys):
    code = main(["--course", str(course.root), "override", "s003", A, "t2", "3", "--reason", "timeout was ours"])
    assert code == 0
    assert grade_of(course, "s003", "t2")[1] == 3.0
    code = main(["--course", str(course.root), "override", "s003", A, "t2", "30", "--reason", "typo"])
    assert code == 2
    assert "30 points is out of range for 01_demo:t2" in capsys.readouterr().err
    assert grade_of(course, "s003", "t2")[1] == 3.0


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_review_lists_unusual_and_flagged_submissions(course, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    override(course, "s001", A, "t1", 1.0, "shared code with s002")
    capsys.readouterr()
    assert main(["--course", str(course.root), "review"]) == 1   # something to review
    out = capsys.readouterr().out
    listed = {line.split("│")[1].strip() for line in out.splitlines()
              if line.startswith("│") and line.split("│")[1].strip()}
    # s001 only for the override, s002 late, s003 timeout + tampered, s004 failed, s006 never graded
    assert listed == {"s001", "s002", "s003", "s004", "s006"}
    assert "shared code with s002" in out
    assert "test cell t1 was edited" in out
    assert "not valid JSON" in out
    assert "not graded yet" in out
    assert "1 missing" in out          # s005 is counted, not listed


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_review_of_a_clean_course_says_so(tmp_path, tmp_path_factory, capsys):
    course = make_course(tmp_path, tmp_path_factory)
    record_run(course, "s001", Status.GRADED, {"t1": 2.0, "t2": 3.0}, WHEN)
    assert review(course) == 0
    assert "nothing to review" in capsys.readouterr().out
