"""Workflow: an over-limit file is scored when uploaded again on a later day; late files follow the
course's late policy; `select --clear`; the public page counts scored entries only."""
from __future__ import annotations

import pytest
from leaderboard_corpus.build import ASSIGNMENT, at, make_course

from leaderboard import api
from leaderboard.cli import main
from leaderboard.records import CsvStatus


def test_an_over_limit_file_is_scored_when_uploaded_again_on_a_later_day(tmp_path):
    course = make_course(tmp_path / "c", n_test=40, daily_limit=1)
    first = course.predictions_with_accuracy(20, seed=1)
    second = course.predictions_with_accuracy(25, seed=2)
    course.submit("s1", first, at(1, 9), archived=True)
    course.submit("s1", second, at(1, 10))
    run = api.score(course.root)
    over = [s for s in run.new if s.status == CsvStatus.OVER_LIMIT]
    assert len(over) == 1
    assert "upload it again on a later day" in over[0].message and "tomorrow" not in over[0].message
    # The student does what the message says: the same bytes, uploaded on day 2.
    course.submit("s1", second, at(1, 10), archived=True)
    course.submit("s1", second, at(2, 9))
    run = api.score(course.root)
    assert [s.status for s in run.new] == [CsvStatus.SCORED]
    subs = api.student_submissions(course.root, "s1")
    assert sorted(s.status.value for s in subs) == ["scored", "scored"]      # the over_limit row was replaced
    assert api.score(course.root).new == []                                  # and nothing changes after that


def _late_course(tmp_path, kind: str):
    course = make_course(tmp_path / kind, n_test=40)
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text() + f'\n[late_policy]\nkind = "{kind}"\nper_day = 0.1\nmax_penalty = 0.5\n'
                    f'grace_minutes = 15\n\n[assignments.{ASSIGNMENT}]\ndue = "2026-12-01T12:00:00+00:00"\n')
    return course


@pytest.mark.parametrize("kind, points", [("none", 10.0), ("per_day", 8.0), ("reject", 0.0)])
def test_late_csv_follows_the_course_late_policy(tmp_path, kind, points):
    course = _late_course(tmp_path, kind)
    perfect = course.truth.copy()
    course.submit("ontime", perfect, at(1, 12, 10))          # inside the 15 min grace
    course.submit("late", perfect, at(2, 13))                # 2 started days after due + grace
    results = {s.student_id: s for s in api.score(course.root).standings.students}
    assert results["ontime"].points == 10.0 and "late" not in results["ontime"].flags
    assert results["late"].points == points and "late" in results["late"].flags
    assert "2 days late" in results["late"].message


def test_select_clear_and_public_entries(tmp_path, capsys):
    course = make_course(tmp_path / "c", n_test=40)
    course.submit("s1", course.predictions_with_accuracy(20, seed=1), at(1, 9), archived=True)
    course.submit("s1", b"not,a,csv\n", at(1, 10), archived=True)
    course.submit("s1", course.predictions_with_accuracy(25, seed=2), at(1, 11))
    run = api.score(course.root)
    (public_row,) = run.standings.public
    assert public_row.entries == 2                           # the invalid file is not an entry
    assert "| 2 |" in run.reports.public_markdown.read_text()
    first = min(s.id for s in run.new if s.status == CsvStatus.SCORED)
    assert main(["select", "s1", str(first), "--course", str(course.root)]) == 0
    assert api.final_results(course.root)["s1"].submission_id == first
    assert main(["select", "s1", "--clear", "--course", str(course.root)]) == 0
    assert "selection cleared" in capsys.readouterr().out
    assert not any(s.selected for s in api.student_submissions(course.root, "s1"))
    assert api.final_results(course.root)["s1"].submission_id != first
    assert main(["select", "s1", "3", "--clear", "--course", str(course.root)]) == 2
