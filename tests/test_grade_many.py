"""One `autograder grade` over several assignments: one warm start for the whole run, and none at all
when nothing needs grading (issue 15)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import BIN, FIXTURES, build_course, released, submit, with_answers
from test_grade_batch import GOOD

from autograder.grade import WarmServer, grade_many
from classroom.cli import main
from coursebase.layout import Course
from coursebase.policy import load_policy

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
    # the whole command, as an instructor runs it: nothing to do means no torch, no kernel machinery, and
    # no gradebook (it is read for scores we did not write only when its files changed since our last run)
    probe = ("import sys\nfrom classroom.cli import main\n"
             f"rc = main(['grade', 'ps2', 'ps3', '--course', {str(course)!r}])\n"
             "print(rc, sorted(m for m in ('nbgrader', 'nbformat', 'torch', 'IPython', 'autograder.engine.forkserver')"
             " if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600)
    assert run.stdout.split("\n")[0] == "0 []", run.stdout + run.stderr
    assert (course / ".autograder" / "records.jsonl").read_bytes() == records


def test_a_new_release_of_the_tests_is_noticed_without_asking_the_gradebook_every_time(graded):
    """The kit is reused only while release/<assignment>/ is unchanged; `release` rewrites it."""
    course, _, _ = graded
    source = course / "source" / "ps3" / "ps2.ipynb"
    nb = json.loads(source.read_text())
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "test_value")
    cell["metadata"]["nbgrader"]["points"] = 5
    source.write_text(json.dumps(nb))
    run = subprocess.run([os.path.join(BIN, "nbgrader"), "generate_assignment", "ps3", "--force"], cwd=course,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    again = grade_many(Course.at(course), ["ps2", "ps3"], quiet=True)
    assert again["ps2"].graded == [] and [r.student_id for r in again["ps3"].graded] == ["honest"]
    assert again["ps3"].graded[0].score == again["ps3"].graded[0].max_score == 12.0   # 8 + 4 more for test_value


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
