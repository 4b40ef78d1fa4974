"""Final grades: the pure combination (weights, shares of the maximum, missing and failed
parts shown, late penalties carried) and the I/O edge on a real course gradebook."""
from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, TEST_POLICY, build_course
from rich.console import Console

from autograder.export import GradeRow
from coursebase.late import Lateness
from coursebase.layout import Course, CourseError
from coursebase.policy import DEFAULT_WEIGHTS
from coursebase.vocabulary import Status
from finalgrades.combine import LEADERBOARD, Component, FinalStatus, combine, combine_course
from finalgrades.command import final_grades
from finalgrades.report import csv_columns, render_csv, short_notes, table
from leaderboard.records import CsvStatus, LeaderboardResult

A1, A2, A3, A4 = "01_tensors", "02_dot_product", "03_parameter_count", "04_mlp_fashion_mnist"
NAMES = [A1, A2, A3, A4, LEADERBOARD]


def graded(name, score, max_score, **kw):
    return Component(name, kw.pop("status", "graded"), score, max_score, raw_score=kw.pop("raw", score),
                     late_penalty=kw.pop("late_penalty", 0.0), **kw)


def board(points, accuracy=0.9, status="scored", flags=None):
    return Component(LEADERBOARD, status, points if status == "scored" else None, 10.0,
                     raw_score=points if status == "scored" else None, flags=flags or {}, accuracy=accuracy)


def full(**override):
    parts = {A1: graded(A1, 14, 14), A2: graded(A2, 6, 6), A3: graded(A3, 11, 11), A4: graded(A4, 13, 13),
             LEADERBOARD: board(10.0)}
    parts.update(override)
    return [parts[n] for n in NAMES]


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


# ------------------------------------------------------------------ weights and shares

def test_default_weights_each_part_as_a_share_of_its_maximum():
    components = full(**{A1: graded(A1, 7, 14), A3: graded(A3, 0, 11), LEADERBOARD: board(7.0)})
    grade = combine("s1", "Анна", components, DEFAULT_WEIGHTS)
    # 15 * 7/14 + 10 * 1 + 15 * 0 + 30 * 1 + 30 * 7/10
    assert grade.percent == pytest.approx(7.5 + 10 + 0 + 30 + 21)
    assert grade.part(A1).share == pytest.approx(0.5)
    assert grade.part(A1).percent == pytest.approx(7.5)
    assert grade.part(LEADERBOARD).percent == pytest.approx(21.0)
    assert grade.status == FinalStatus.COMPLETE
    assert grade.message == ""


def test_weights_need_not_add_up_to_100():
    components = [graded("a", 1, 4), graded("b", 3, 3)]
    grade = combine("s1", "", components, {"a": 1, "b": 3})
    assert grade.percent == pytest.approx(100 * (1 * 0.25 + 3 * 1.0) / 4)


def test_a_full_course_is_100_and_an_empty_one_0():
    assert combine("s", "", full(), DEFAULT_WEIGHTS).percent == 100.0
    zero = [graded(n, 0, m) for n, m in ((A1, 14), (A2, 6), (A3, 11), (A4, 13))] + [board(2.0, accuracy=0.1)]
    # the leaderboard's floor points for a valid but poor file still count
    assert combine("s", "", zero, DEFAULT_WEIGHTS).percent == pytest.approx(30 * 0.2)


def test_unweighted_component_is_shown_but_does_not_count():
    components = full() + [graded("05_bonus", 0, 5)]
    grade = combine("s", "", components, DEFAULT_WEIGHTS)
    assert grade.percent == 100.0
    assert grade.part("05_bonus").weight == 0
    assert grade.part("05_bonus").percent == 0


def test_extra_credit_above_the_maximum_is_capped_at_a_full_share():
    grade = combine("s", "", full(**{A2: graded(A2, 8, 6)}), DEFAULT_WEIGHTS)
    assert grade.part(A2).share == 1.0
    assert grade.percent == 100.0


# ------------------------------------------------------------------ nothing silently zero

@pytest.mark.parametrize("status", ["missing", "failed"])
def test_missing_or_failed_notebook_counts_as_zero_and_says_so(status):
    components = full(**{A3: Component(A3, status, None, 11.0)})
    grade = combine("s", "", components, DEFAULT_WEIGHTS)
    part = grade.part(A3)
    assert part.counted_as_zero and part.share == 0 and part.percent == 0
    assert grade.percent == pytest.approx(85.0)
    assert grade.status == FinalStatus.INCOMPLETE
    assert f"{A3} {status}" in grade.message and "counted as 0" in grade.message
    row = read_csv(render_csv([grade], NAMES))[0]
    assert row[A3] == status                      # the cell says what happened, not 0
    assert row[f"{A3}:status"] == status
    assert row[f"{A3}:raw_score"] == "" and row[f"{A3}:late_penalty"] == ""
    assert row[A1] == "14.0"


@pytest.mark.parametrize("status", ["missing", "invalid", "over_limit"])
def test_leaderboard_without_a_scored_file_counts_as_zero_and_says_so(status):
    grade = combine("s", "", full(**{LEADERBOARD: board(0.0, accuracy=None, status=status)}), DEFAULT_WEIGHTS)
    assert grade.percent == pytest.approx(70.0)
    assert grade.status == FinalStatus.INCOMPLETE
    assert f"leaderboard {status}" in grade.message
    row = read_csv(render_csv([grade], NAMES))[0]
    assert row[LEADERBOARD] == status
    assert row["leaderboard:private_accuracy"] == ""


@pytest.mark.parametrize("status", ["timeout", "crashed"])
def test_timeout_and_crash_keep_the_cells_that_ran(status):
    grade = combine("s", "", full(**{A1: graded(A1, 5, 14, status=status)}), DEFAULT_WEIGHTS)
    assert grade.part(A1).share == pytest.approx(5 / 14)
    assert grade.percent == pytest.approx(85 + 15 * 5 / 14, abs=0.005)
    assert grade.status == FinalStatus.INCOMPLETE
    assert f"{A1} {status}: 5/14" in grade.message
    row = read_csv(render_csv([grade], NAMES))[0]
    assert row[A1] == "5.0" and row[f"{A1}:status"] == status


# ------------------------------------------------------------------ late penalties and flags

def test_late_penalty_is_carried_and_visible():
    late = Component(A1, "graded", 11.2, 14.0, raw_score=14.0, late_penalty=2.8,
                     flags={"late": "2 days late, penalty 2.8"})
    grade = combine("s", "", full(**{A1: late}), DEFAULT_WEIGHTS)
    assert grade.part(A1).share == pytest.approx(0.8)
    assert grade.percent == pytest.approx(85 + 15 * 0.8)
    assert grade.status == FinalStatus.COMPLETE          # a priced penalty needs no review
    assert "01_tensors late: -2.8 points" in grade.message
    row = read_csv(render_csv([grade], NAMES))[0]
    assert (row[A1], row[f"{A1}:raw_score"], row[f"{A1}:late_penalty"]) == ("11.2", "14.0", "2.8")
    assert row[f"{A1}:flags"] == "late"


@pytest.mark.parametrize("where,flag", [(A2, "attack"), (A4, "tampered"), (LEADERBOARD, "copy"),
                                        (LEADERBOARD, "implausible")])
def test_review_flags_ask_for_review_but_keep_the_grade(where, flag):
    components = full()
    components = [Component(c.name, c.status, c.score, c.max_score, c.raw_score, c.late_penalty,
                            {flag: "seen"} if c.name == where else {}, accuracy=c.accuracy) for c in components]
    grade = combine("s", "", components, DEFAULT_WEIGHTS)
    assert grade.status == FinalStatus.REVIEW
    assert grade.percent == 100.0
    assert f"{where} flagged {flag}: review" in grade.message


def test_review_wins_over_incomplete():
    components = full(**{A3: Component(A3, "missing", None, 11.0),
                         LEADERBOARD: board(10.0, flags={"copy": "same as s2"})})
    assert combine("s", "", components, DEFAULT_WEIGHTS).status == FinalStatus.REVIEW


def test_an_unweighted_flagged_part_does_not_change_the_status():
    components = full() + [Component("05_bonus", "missing", None, 5.0, flags={"attack": "x"})]
    assert combine("s", "", components, DEFAULT_WEIGHTS).status == FinalStatus.COMPLETE


# ------------------------------------------------------------------ bad input

def test_a_weight_without_a_component_is_refused_by_name():
    with pytest.raises(ValueError, match="05_extra"):
        combine("s", "", full(), {**DEFAULT_WEIGHTS, "05_extra": 5})


@pytest.mark.parametrize("weights,words", [({A1: -1, A2: 2}, "negative"), ({A1: 0, A2: 0}, "add up to 0")])
def test_bad_weights_are_refused(weights, words):
    with pytest.raises(ValueError, match=words):
        combine("s", "", [graded(A1, 1, 1), graded(A2, 1, 1)], weights)


def test_csv_header_keeps_every_component_visible():
    columns = csv_columns(NAMES)
    for name in (A1, A4):
        for suffix in ("", ":status", ":raw_score", ":late_penalty", ":max_score", ":flags"):
            assert name + suffix in columns
    for suffix in ("", ":status", ":private_accuracy", ":max_points", ":flags"):
        assert LEADERBOARD + suffix in columns
    assert columns[-3:] == ["final_percent", "final_status", "message"]


def test_the_terminal_says_each_remark_in_a_few_words():
    late = Component(A1, "graded", 11.2, 14.0, raw_score=14.0, late_penalty=2.8, flags={"late": "2 days"})
    components = full(**{A1: late, A2: graded(A2, 3, 6, status="timeout"), A3: Component(A3, "missing", None, 11.0),
                         LEADERBOARD: board(10.0, flags={"copy": "same as s2"})})
    grade = combine("s9", "", components, DEFAULT_WEIGHTS)
    assert short_notes(grade) == "01 late -2.8, 02 timeout, 03 missing = 0, LB copy"
    console = Console(record=True, width=200)
    console.print(table([grade], NAMES, DEFAULT_WEIGHTS))
    text = console.export_text()
    assert "11.2/14" in text and "3/6 timeout" in text and "missing" in text and "10/10 !" in text
    assert f"{grade.percent:.1f}%" in text and "review" in text


# ------------------------------------------------------------------ the whole course (pure)

def row(student, assignment, status=Status.GRADED, raw=None, max_score=10.0, penalty=0.0, flags=None):
    return GradeRow(student, student.upper(), assignment, status, flags or {}, raw,
                    Lateness(penalty > 0, 1 if penalty else 0, penalty), max_score, "")


def result(student, status=CsvStatus.SCORED, points=8.0, accuracy=0.87, flags=()):
    return LeaderboardResult(student, status, accuracy, accuracy, points, 10.0, list(flags))


def test_course_parts_follow_the_weights_then_unweighted_assignments_with_a_note():
    rows = [row("s2", "b", raw=5.0), row("s1", "a", raw=10.0), row("s1", "b", raw=2.0, penalty=1.0),
            row("s2", "a", Status.MISSING), row("s1", "c", raw=1.0), row("s2", "c", raw=1.0)]
    grades, names, notes = combine_course(rows, {"s1": result("s1")}, {"b": 50, "leaderboard": 25, "a": 25},
                                          10.0, "course.toml")
    assert names == ["b", "leaderboard", "a", "c"]
    assert notes == ["c has no weight in course.toml [weights]: shown, but it does not count"]
    assert [g.student_id for g in grades] == ["s1", "s2"]                    # sorted, whatever the rows' order
    s1, s2 = grades
    assert [p.component.name for p in s1.parts] == names
    assert s1.student_name == "S1"
    assert s1.part("b").component.score == 1.0 and s1.part("b").component.late_penalty == 1.0
    assert s1.percent == pytest.approx(50 * 0.1 + 25 * 0.8 + 25 * 1.0)
    assert s1.part("c").weight == 0 and s1.status == FinalStatus.COMPLETE
    # s2: no leaderboard entry at all is `missing`, counted as 0 and said
    assert s2.part(LEADERBOARD).component.status == "missing" and s2.part(LEADERBOARD).counted_as_zero
    assert s2.percent == pytest.approx(50 * 0.5) and s2.status == FinalStatus.INCOMPLETE
    assert "leaderboard missing (nothing submitted): counted as 0" in s2.message
    assert "a missing (nothing submitted): counted as 0" in s2.message


def test_course_leaderboard_flags_and_statuses_come_through():
    rows = [row("s1", "a", raw=10.0), row("s2", "a", raw=10.0)]
    board = {"s1": result("s1", flags=["copy"]), "s2": result("s2", CsvStatus.OVER_LIMIT, 0.0, None),
             "ghost": result("ghost")}
    grades, names, notes = combine_course(rows, board, {"a": 50, "leaderboard": 50}, 10.0, "course.toml")
    s1, s2 = grades
    assert s1.status == FinalStatus.REVIEW and s1.percent == pytest.approx(90.0)
    assert s2.part(LEADERBOARD).component.status == "over_limit" and s2.percent == pytest.approx(50.0)
    assert notes == ["on the leaderboard but not on the roster (left out): ghost"]
    assert "ghost" not in [g.student_id for g in grades]


def test_course_without_the_leaderboard_reads_no_board():
    grades, names, notes = combine_course([row("s1", "a", raw=4.0)], {"s1": result("s1")}, {"a": 100}, 10.0, "x")
    assert names == ["a"] and notes == [] and grades[0].percent == pytest.approx(40.0)


def test_a_weight_naming_an_unknown_assignment_names_the_file_and_the_fix():
    with pytest.raises(CourseError, match=r"/c/course\.toml: \[weights\] names zz, which the gradebook does not "
                                          r"know \(assignments: a\)\. Release it, or fix the weight's name\."):
        combine_course([row("s1", "a", raw=1.0)], {}, {"a": 50, "zz": 50}, 10.0, Path("/c/course.toml"))


# ------------------------------------------------------------------ the I/O edge, on a real gradebook

@pytest.fixture(scope="module")
def small_course(tmp_path_factory) -> Path:
    """One released assignment (the engine fixture, 8 points), a roster of two, nothing graded."""
    policy = TEST_POLICY + '\n[weights]\nps2 = 60\nleaderboard = 40\n'
    root = build_course(tmp_path_factory.mktemp("grades") / "course", {"ps2": FIXTURES / "engine" / "ps2.ipynb"},
                        policy=policy)
    roster = root / "roster.csv"
    roster.write_text("student_id,first_name,last_name\na1,Ann,A\nb2,Bob,B\n", encoding="utf-8")
    from autograder.roster import import_roster

    import_roster(Course.at(root), roster)
    return root


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_final_grades_on_a_course_with_nothing_handed_in(small_course, tmp_path):
    course = Course.at(shutil.copytree(small_course, tmp_path / "c"))
    (course.root / "nbgrader_config.py").write_text(
        (small_course / "nbgrader_config.py").read_text().replace(str(small_course), str(course.root)))
    result = final_grades(course, show=False)
    assert result.csv == course.exports / "final_grades.csv"
    rows = read_csv(result.csv.read_text(encoding="utf-8"))
    assert [r["student_id"] for r in rows] == ["a1", "b2"]
    for row in rows:
        assert row["ps2"] == "missing" and row["leaderboard"] == "missing"
        assert row["final_percent"] == "0.00" and row["final_status"] == "incomplete"
        assert "ps2 missing (nothing submitted): counted as 0" in row["message"]
    page = result.report.read_text(encoding="utf-8")
    assert result.report == course.reports / "course_report.html"
    assert "a1" in page and "b2" in page and "ps2" in page
    assert "<script" not in page and 'src="http' not in page      # self-contained
    assert page.count("data:image/png;base64,") >= 3            # final, ps2, leaderboard histograms


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_weights_naming_an_unknown_assignment_are_refused_and_nothing_written(small_course, tmp_path):
    course = Course.at(shutil.copytree(small_course, tmp_path / "c"))
    (course.root / "nbgrader_config.py").write_text(
        (small_course / "nbgrader_config.py").read_text().replace(str(small_course), str(course.root)))
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text().replace("ps2 = 60", "ps3 = 60"))
    before = toml.read_bytes()
    with pytest.raises(CourseError, match=r"course\.toml.*ps3.*ps2"):
        final_grades(course, show=False)
    assert not (course.exports / "final_grades.csv").exists()
    assert not (course.reports / "course_report.html").exists()
    assert toml.read_bytes() == before


def test_no_gradebook_is_a_clear_error(tmp_path):
    with pytest.raises(CourseError, match="no gradebook"):
        final_grades(Course.at(tmp_path), show=False)
    assert not any(tmp_path.iterdir())
