"""LMS round trip: Canvas / Moodle / plain rosters in, Canvas / Moodle grade imports and Gradescope-style
results.json out, on a real gradebook. The files are checked against the import rules the LMSs document:
Canvas matches a line by ID, SIS User ID or SIS Login ID and reads a number (or nothing) in each
assignment column, with an optional "Points Possible" line; Moodle matches by "ID number" or
"Email address" and reads a number (or nothing) per grade item."""
from __future__ import annotations

import csv
import io
import json

import pytest

from autograder.export import export
from autograder.gradebook import open_gradebook
from autograder.roster import RosterError, import_roster, load_lms_roster, parse_roster
from classroom.cli import main
from coursebase.layout import Course
from finalgrades.command import final_grades

try:
    from test_export import A, graded_cohort, make_course
except ImportError:  # pragma: no cover
    from tests.test_export import A, graded_cohort, make_course

CANVAS_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Homework 1 (123)\n"
    "Points Possible,,,,,10\n"
    + "".join(f"\"Surname{i}, Name{i}\",9000{i},s00{i},login{i},PyTorch 101,\n" for i in range(1, 7)))
MOODLE_ROSTER = (
    "First name,Last name,ID number,Institution,Department,Email address\n"
    + "".join(f"Имя{i},Фамилия{i},s00{i},HSE,CS,s00{i}@uni.example\n" for i in range(1, 7)))


@pytest.fixture
def course(tmp_path, tmp_path_factory) -> Course:
    course = make_course(tmp_path, tmp_path_factory)
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text() + "\n[weights]\n01_demo = 100\n")
    graded_cohort(course)
    return course


def number_or_empty(value: str) -> bool:
    if value == "":
        return True
    float(value)          # raises for a word
    return True


def rows(path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def check_canvas(path, score_columns: list[str]) -> dict[str, list[str]]:
    """Canvas's gradebook import rules; returns the student lines by SIS User ID."""
    lines = rows(path)
    header = lines[0]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert header[5:] == score_columns
    assert lines[1][0] == "Points Possible" and all(float(v) > 0 for v in lines[1][5:])
    students = {}
    for line in lines[2:]:
        assert len(line) == len(header)
        assert line[1] or line[2] or line[3], f"no identifier Canvas can match: {line}"
        assert all(number_or_empty(v) for v in line[5:]), line
        students[line[2]] = line
    return students


def check_moodle(path, score_columns: list[str]) -> dict[str, list[str]]:
    lines = rows(path)
    header = lines[0]
    assert header[:4] == ["First name", "Last name", "ID number", "Email address"]
    assert header[4:] == score_columns
    students = {}
    for line in lines[1:]:
        assert line[2], f"no ID number to map: {line}"
        assert all(number_or_empty(v) for v in line[4:]), line
        students[line[2]] = line
    return students


def test_canvas_roster_in_canvas_grades_out(course, tmp_path):
    roster = tmp_path / "canvas.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8")
    result = import_roster(course, roster, show=False)           # detected: Canvas
    assert result.format == "canvas" and result.updated == [f"s00{i}" for i in range(1, 7)]
    assert "Section" in result.kept_aside and "Homework 1 (123)" in result.kept_aside
    with open_gradebook(course.db_url) as gb:
        s1 = gb.find_student("s001")
        assert (s1.first_name, s1.last_name, s1.lms_user_id) == ("Name1", "Surname1", "90001")
        assert "90001" not in {s.id for s in gb.students}       # Canvas's internal ID is never a student id
    assert load_lms_roster(course)["s001"]["columns"]["Section"] == "PyTorch 101"

    final = final_grades(course, show=False)
    students = check_canvas(final.lms["canvas"], [A, "Final grade (%)"])
    assert set(students) == {f"s00{i}" for i in range(1, 7)}
    s1 = students["s001"]
    assert s1[:5] == ["Surname1, Name1", "90001", "s001", "login1", "PyTorch 101"]
    assert float(s1[5]) == 5.0 and float(s1[6]) == 100.0
    assert float(students["s002"][5]) == 1.0                      # 2 minus the late penalty 1
    assert students["s004"][5] == "" and students["s005"][5] == ""  # failed / missing: no number
    assert float(students["s005"][6]) == 0.0
    # the words are in their own file
    with final.lms["statuses"].open(newline="", encoding="utf-8") as fh:
        statuses = {(r["student_id"], r["part"]): r for r in csv.DictReader(fh)}
    assert statuses[("s005", A)]["status"] == "missing" and statuses[("s004", A)]["status"] == "failed"
    assert statuses[("s002", A)]["flags"] == "late" and statuses[("s001", "final")]["status"] == "complete"


def test_moodle_roster_in_moodle_grades_out(course, tmp_path):
    roster = tmp_path / "moodle.csv"
    roster.write_text(MOODLE_ROSTER, encoding="utf-8")
    assert main(["--course", str(course.root), "students", "import", str(roster), "--format", "moodle"]) == 0
    final = final_grades(course, show=False)
    students = check_moodle(final.lms["moodle"], [A, "Final grade (%)"])
    assert students["s003"][:4] == ["Имя3", "Фамилия3", "s003", "s003@uni.example"]
    assert students["s005"][4] == "" and float(students["s001"][4]) == 5.0
    # no roster from an LMS: our ids still fill the identifier columns
    canvas = check_canvas(final.lms["canvas"], [A, "Final grade (%)"])
    assert canvas["s003"][2] == "s003"


def test_roster_presets_keep_names_and_never_drop_a_column_silently(course, tmp_path):
    entries = parse_roster("id,name\ns1,Ann Marie Smith\ns2,Иванов Иван\n")
    assert [(e.student_id, e.first_name, e.last_name) for e in entries] == [
        ("s1", None, "Ann Marie Smith"), ("s2", None, "Иванов Иван")]
    roster = tmp_path / "plain.csv"
    roster.write_text("student_id,first_name,last_name,Group\ns001,A,B,7\n", encoding="utf-8")
    assert import_roster(course, roster, show=False).kept_aside == ["Group"]
    assert load_lms_roster(course)["s001"]["columns"]["Group"] == "7"


def test_roster_format_errors_are_clear_and_import_nothing(course, tmp_path):
    no_sis = CANVAS_ROSTER.replace(",90003,s003,login3,", ",90003,,,")
    with pytest.raises(RosterError, match=r"line 5: no student id in SIS User ID or SIS Login ID "
                                          r"\(Canvas's internal ID is not used"):
        parse_roster(no_sis)
    with pytest.raises(RosterError, match=r"fits several roster formats \(moodle, csv\); say which with --format"):
        parse_roster("student_id,ID number,Email address\ns1,s1,a@b.org\n")
    with pytest.raises(RosterError, match="does not look like a canvas roster"):
        parse_roster("student_id,name\ns1,A\n", fmt="canvas")
    bad = tmp_path / "bad.csv"
    bad.write_text(no_sis, encoding="utf-8")
    with open_gradebook(course.db_url) as gb:
        before = {s.id: (s.first_name, s.last_name) for s in gb.students}
    assert main(["--course", str(course.root), "students", "import", str(bad)]) == 2
    with open_gradebook(course.db_url) as gb:
        assert {s.id: (s.first_name, s.last_name) for s in gb.students} == before
    assert not (course.state / "lms_roster.json").exists()


def test_gradescope_style_results_json_per_submission(course):
    export(course, show=False)
    results = sorted((course.exports / "results" / A).glob("*/results.json"))
    assert [p.parent.name for p in results] == ["s001", "s002", "s003", "s004", "s006"]   # s005: missing
    s2 = json.loads((course.exports / "results" / A / "s002" / "results.json").read_text())
    assert s2["score"] == 1.0 and s2["extra_data"]["late_penalty"] == 1.0 and "late" in s2["extra_data"]["flags"]
    tests = {t["name"]: t for t in s2["tests"]}
    assert tests["t1"] == {"name": "t1", "score": 2.0, "max_score": 2.0, "status": "passed", "output": ""}
    assert tests["t2"]["status"] == "failed" and tests["t2"]["output"] == "AssertionError"
    s3 = json.loads((course.exports / "results" / A / "s003" / "results.json").read_text())
    assert s3["extra_data"]["status"] == "timeout"
    assert {t["name"]: t["output"] for t in s3["tests"]}["t2"].startswith("not run")
    assert json.loads(io.StringIO((course.exports / "results" / A / "s004" / "results.json").read_text())
                      .read())["extra_data"]["status"] == "failed"
