"""Honest submissions get exactly the score nbgrader's own `autograde` gives them.

Both graders run on the same course copy's submissions; their per-cell auto
scores are compared. The only known deviations (stderr, deleted cells, tests
that modify the student's namespace) are covered in test_grade_batch.py and
the README, and are not part of this set.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import FIXTURES, PEER, build_course, copy_course, released, submit
from nbgrader.api import Gradebook
from test_grade_batch import CASES

from autograder.grade import grade_batch
from coursebase.layout import Course

pytestmark = pytest.mark.slow

# (duplicated_test is left out: nbgrader refuses the whole notebook when a cell id appears twice)
ENGINE_HONEST = ["honest", "honest_numpy_style", "partial", "empty", "sys_exit", "edited_test", "print_flood"]
PEER_HONEST = ["submitted-unchanged", "submitted-changed", "submitted-cheat-attempt",
               "submitted-cheat-attempt-alternative", "submitted-grade-cell-changed", "submitted-locked-cell-changed"]


def nbgrader_scores(course, assignment) -> dict[str, dict[str, float | None]]:
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "nbgrader"), "autograde", assignment,
                          "--force"], cwd=course, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        return {sub.student.id: {g.name: g.auto_score for g in sub.notebooks[0].grades}
                for sub in gb.assignment_submissions(assignment)}


def our_scores(course, assignment) -> dict[str, dict[str, float | None]]:
    summary = grade_batch(Course.at(course), assignment, quiet=True)
    return {r.student_id: {c.grade_id: c.score for c in r.cells} for r in summary.graded}


def _twin_courses(template, tmp_path):
    return copy_course(template, tmp_path / "ours"), copy_course(template, tmp_path / "theirs")


def test_engine_assignment_matches_nbgrader(tmp_path):
    template = build_course(tmp_path / "template", {"ps2": FIXTURES / "engine" / "ps2.ipynb"})
    ours, theirs = _twin_courses(template, tmp_path)
    nb = released(template, "ps2")
    for course in (ours, theirs):
        for student in ENGINE_HONEST:
            submit(course, student, "ps2", CASES[student][0](released(template, "ps2")))
    expected = nbgrader_scores(theirs, "ps2")
    assert set(expected) == set(ENGINE_HONEST)
    assert our_scores(ours, "ps2") == expected
    assert nb  # the release exists and was used


@pytest.mark.skipif(not PEER.exists(), reason="the peer corpus (../shared/peer/nbgrader) is not here")
def test_peer_corpus_matches_nbgrader(tmp_path):
    template = build_course(tmp_path / "template", {"ps1": PEER / "submitted-unchanged.ipynb"})
    ours, theirs = _twin_courses(template, tmp_path)
    for course in (ours, theirs):
        for name in PEER_HONEST:
            submit(course, name, "ps1", PEER / f"{name}.ipynb")
    expected = nbgrader_scores(theirs, "ps1")
    assert our_scores(ours, "ps1") == expected
    # and the scores are not trivially equal: the peer set has passing, failing and manual cells
    assert {v for scores in expected.values() for v in scores.values()} >= {0.0, 1.0, None}
