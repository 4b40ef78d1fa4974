"""The course's own four assignments, graded by our engine: the reference solutions get every
point, the untouched releases get none (the same as nbgrader's autograde gives them, which
test_assignments.py checks)."""
from __future__ import annotations

import json
import shutil

import pytest
from conftest import ROOT, solved, submit

from autograder.grade import grade_batch
from autograder.kits import build_kit
from autograder.release import release
from coursebase.layout import ASSIGNMENTS, Course

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("real") / "course"
    shutil.copytree(ROOT / "source", root / "source")
    shutil.copy(ROOT / "course.toml", root / "course.toml")
    (root / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    release(Course.at(root), None)
    for assignment in ASSIGNMENTS:
        source = json.loads(next((root / "source" / assignment).glob("*.ipynb")).read_text())
        blank = json.loads(next((root / "release" / assignment).glob("*.ipynb")).read_text())
        submit(root, "reference", assignment, solved(blank, source))
        submit(root, "blank", assignment, blank)
    return root


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_gets_everything_and_blank_gets_nothing(course, assignment):
    summary = grade_batch(Course.at(course), assignment, quiet=True)
    by = {r.student_id: r for r in summary.graded}
    kit = build_kit(Course.at(course), assignment)
    assert by["reference"].score == kit.max_score > 0, [(c.grade_id, c.score, c.error) for c in by["reference"].cells]
    assert by["blank"].score == 0.0
    assert by["reference"].status.value == "graded" and by["blank"].status.value == "graded"
    # honest work raises no flags, the reference solutions included
    assert by["reference"].flags == {} and by["blank"].flags == {}
