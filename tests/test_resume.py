"""Nothing is lost: a grading run killed at any moment is finished by the next one.

Also: what is regraded (changed submission, changed tests, --force) and what
happens where the OS refuses the sandbox.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from conftest import BIN, FIXTURES, build_course, copy_course, released, submit, with_answers
from nbgrader.api import Gradebook
from test_grade_batch import GOOD

from autograder.grade import grade_batch
from coursebase.layout import Course

pytestmark = pytest.mark.slow

SLOW = {**GOOD, "value_answer": "import time\ntime.sleep(1.5)\nvalue = 50"}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_course(tmp_path_factory.mktemp("resume") / "course", {"ps2": FIXTURES / "engine" / "ps2.ipynb"})


def _records(course):
    path = course / ".autograder" / "records.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_sigkill_mid_batch_then_rerun_finishes_without_duplicates(template, tmp_path):
    course = copy_course(template, tmp_path / "course")
    students = [f"s{i:02d}" for i in range(8)]
    for student in students:
        submit(course, student, "ps2", with_answers(released(course, "ps2"), SLOW))
    proc = subprocess.Popen([os.path.join(BIN, "autograder"), "--course", str(course), "grade", "ps2",
                             "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while len(_records(course)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(_records(course))
    assert 2 <= done_before < len(students), "the kill must land mid-batch"

    again = grade_batch(Course.at(course), "ps2", quiet=True)
    assert len(again.graded) == len(students) - done_before
    records = _records(course)
    assert sorted(r["student_id"] for r in records) == students  # each exactly once
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        subs = gb.assignment_submissions("ps2")
        assert sorted(s.student.id for s in subs) == students
        assert all(s.score == 8.0 for s in subs)


def test_regrade_when_submission_or_tests_change(template, tmp_path):
    course = copy_course(template, tmp_path / "course")
    nb = released(course, "ps2")
    submit(course, "alice", "ps2", with_answers(nb, {**GOOD, "value_answer": "value = 49"}))
    submit(course, "bob", "ps2", with_answers(nb, GOOD))
    first = grade_batch(Course.at(course), "ps2", quiet=True)
    assert {r.student_id: r.score for r in first.graded} == {"alice": 6.0, "bob": 8.0}

    # alice hands in again: only she is regraded
    submit(course, "alice", "ps2", with_answers(nb, GOOD))
    second = grade_batch(Course.at(course), "ps2", quiet=True)
    assert [(r.student_id, r.score) for r in second.graded] == [("alice", 8.0)]

    # the instructor changes a hidden test: everybody is regraded
    source = course / "source" / "ps2" / "ps2.ipynb"
    text = source.read_text().replace("assert double(-3) == -6", "assert double(-3) == -6\\nassert double(0) == 1")
    source.write_text(text)
    run = subprocess.run([os.path.join(BIN, "nbgrader"), "generate_assignment", "ps2", "--force"], cwd=course,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    third = grade_batch(Course.at(course), "ps2", quiet=True)
    assert sorted((r.student_id, r.score) for r in third.graded) == [("alice", 6.0), ("bob", 6.0)]


def _unshare_single_uid() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-U", "-r", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _unshare_single_uid(), reason="needs `unshare -U -r` to simulate a refusing OS")
def test_refused_sandbox_stops_grading_unless_unsandboxed(template, tmp_path):
    """Inside a user namespace that maps one uid (like a rootless container), dropping to the
    sandbox's own uid is refused by the OS: grade must refuse, and --unsandboxed must say so."""
    course = copy_course(template, tmp_path / "course")
    submit(course, "carol", "ps2", with_answers(released(course, "ps2"), GOOD))
    cmd = ["unshare", "-U", "-r", os.path.join(BIN, "autograder"), "--course", str(course), "grade", "ps2"]
    refused = subprocess.run(cmd, capture_output=True, text=True)
    assert refused.returncode == 3
    assert "refuses the sandbox" in refused.stderr and "--unsandboxed" in refused.stderr
    assert _records(course) == []

    allowed = subprocess.run(cmd + ["--unsandboxed"], capture_output=True, text=True)
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    (record,) = _records(course)
    assert record["sandbox"] == "none" and "unsandboxed" in record["flags"]
    assert record["score"] == 8.0


def test_late_submission_is_flagged_in_the_record(template, tmp_path):
    course = copy_course(template, tmp_path / "course")
    policy = course / "course.toml"
    policy.write_text(policy.read_text() + '\n[assignments.ps2]\ndue = "2026-11-30T00:00:00+00:00"\n\n'
                      '[late_policy]\nkind = "per_day"\nper_day = 0.1\nmax_penalty = 0.5\ngrace_minutes = 0\n')
    nb = released(course, "ps2")
    submit(course, "early", "ps2", with_answers(nb, GOOD), timestamp="2026-11-29T10:00:00+00:00")
    submit(course, "late", "ps2", with_answers(nb, GOOD), timestamp="2026-12-01T12:00:00+00:00")
    by = {r.student_id: r for r in grade_batch(Course.at(course), "ps2", quiet=True).graded}
    assert "late" not in by["early"].flags
    # 1.5 days after the due date is 2 started days: 2 x 10 % of 8 points
    assert by["late"].flags["late"].startswith("2 days late") and "penalty 1.6" in by["late"].flags["late"]
    assert by["late"].score == 8.0  # the raw score; the penalty is its own column in the export


def test_a_notebook_that_is_a_symbolic_link_is_not_followed(template, tmp_path):
    """A link could point at the answer key: the submission fails with a message and scores nothing."""
    course = copy_course(template, tmp_path / "course")
    folder = submit(course, "mallory", "ps2", with_answers(released(course, "ps2"), GOOD))
    notebook = folder / "ps2.ipynb"
    notebook.unlink()
    notebook.symlink_to(course / "source" / "ps2" / "ps2.ipynb")
    (result,) = grade_batch(Course.at(course), "ps2", quiet=True).graded
    assert result.status.value == "failed"
    assert "ps2.ipynb is a symbolic link" in result.message and "hand in the notebook file itself" in result.message
    assert result.score == 0.0 and all(not c.ran for c in result.cells)
    assert notebook.is_symlink()  # the submission is left as it was
