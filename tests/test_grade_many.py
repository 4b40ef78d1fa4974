"""One `autograder grade` over several assignments: one warm start for the whole run, and none at all
when nothing needs grading (issue 15)."""
from __future__ import annotations

import json

import pytest

from autograder.cli import main
from autograder.course import Course
from autograder.grade import WarmServer, grade_many
from autograder.policy import load_policy
from conftest import FIXTURES, build_course, released, submit, with_answers
from test_grade_batch import GOOD

pytestmark = pytest.mark.slow


def _records(course) -> list[dict]:
    path = course / ".autograder" / "records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Two assignments (the engine's notebook released twice), three submissions, graded in one call."""
    notebook = FIXTURES / "engine" / "ps2.ipynb"
    course = build_course(tmp_path_factory.mktemp("many") / "course", {"ps2": notebook, "ps3": notebook})
    for assignment in ("ps2", "ps3"):
        submit(course, "honest", assignment, with_answers(released(course, assignment), GOOD))
    submit(course, "empty", "ps2", released(course, "ps2"))
    server = WarmServer(load_policy(course))
    try:
        summaries = grade_many(Course.at(course), None, quiet=True, server=server)
    finally:
        server.close()
    return course, summaries, server


def test_every_assignment_is_graded_over_one_warm_start(graded):
    course, summaries, server = graded
    assert server.starts == 1
    assert list(summaries) == ["ps2", "ps3"]
    records = _records(course)
    assert sorted((r["student_id"], r["assignment"]) for r in records) == [
        ("empty", "ps2"), ("honest", "ps2"), ("honest", "ps3")]   # each submission exactly once
    scores = {(r["student_id"], r["assignment"]): (r["status"], r["score"]) for r in records}
    assert scores[("honest", "ps2")] == scores[("honest", "ps3")] == ("graded", 8.0)
    assert scores[("empty", "ps2")] == ("graded", 0.0)


def test_a_run_with_nothing_to_do_starts_no_fork_server(graded, capsys):
    course, _, _ = graded
    records = (course / ".autograder" / "records.jsonl").read_bytes()
    server = WarmServer(load_policy(course))
    again = grade_many(Course.at(course), ["ps2", "ps3"], quiet=True, server=server)
    assert server.starts == 0 and not server.started
    assert {a: (s.graded, sorted(s.skipped)) for a, s in again.items()} == {
        "ps2": ([], ["empty", "honest"]), "ps3": ([], ["honest"])}
    assert main(["grade", "--all", "--course", str(course)]) == 0
    assert "all 2 submissions are up to date" in capsys.readouterr().err
    assert (course / ".autograder" / "records.jsonl").read_bytes() == records


def test_the_command_needs_names_or_all_and_refuses_unknown_names_before_grading(graded, capsys):
    course, _, _ = graded
    records = (course / ".autograder" / "records.jsonl").read_bytes()
    assert main(["grade", "--course", str(course)]) == 2
    assert "name the assignments to grade, or pass --all" in capsys.readouterr().err
    assert main(["grade", "ps2", "--all", "--course", str(course)]) == 2
    assert main(["grade", "ps2", "nope", "--force", "--course", str(course)]) == 2
    err = capsys.readouterr().err
    assert "no assignment 'nope'" in err and "ps2, ps3" in err
    assert (course / ".autograder" / "records.jsonl").read_bytes() == records   # ps2 was not regraded either
