"""coursebase.answers: the instructor's reference answers of a source notebook, and a student's copy of a released one."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from coursebase.answers import reference_answers, student_notebook
from coursebase.notebook import cell_text

ROOT = Path(__file__).resolve().parents[1]


def _cell(source, **nbgrader) -> dict:
    return {"cell_type": "code", "source": source, "metadata": {"nbgrader": nbgrader} if nbgrader else {},
            "outputs": [], "execution_count": None}


SOURCE = {"cells": [
    _cell("import torch"),
    _cell(["def f(x):\n", "    ### BEGIN SOLUTION\n", "    return 2 * x\n", "    ### END SOLUTION\n"],
          grade_id="f", solution=True, grade=False),
    _cell("assert f(2) == 4\n### BEGIN HIDDEN TESTS\nassert f(3) == 6\n### END HIDDEN TESTS",
          grade_id="test_f", solution=False, grade=True, points=1),
    _cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION", grade_id="manual", solution=True, grade=True, points=2),
]}


def test_reference_answers_are_the_answer_cells_without_their_markers():
    assert reference_answers(SOURCE) == {"f": "def f(x):\n    return 2 * x"}   # tests and manual cells are not answers


def test_a_students_copy_replaces_only_the_named_answer_cells_and_leaves_the_release_alone():
    released = copy.deepcopy(SOURCE)
    released["cells"][1]["source"] = "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    before = json.dumps(released)
    copied = student_notebook(released, {"f": "def f(x):\n    return x + x", "unknown": "ignored"})
    assert json.dumps(released) == before                                   # the given notebook is untouched
    assert cell_text(copied["cells"][1]["source"]) == "def f(x):\n    return x + x"
    assert [c["source"] for i, c in enumerate(copied["cells"]) if i != 1] == \
        [c["source"] for i, c in enumerate(released["cells"]) if i != 1]


def test_every_course_assignment_has_reference_answers_without_markers():
    for path in sorted((ROOT / "source").glob("*/*.ipynb")):
        answers = reference_answers(json.loads(path.read_text(encoding="utf-8")))
        assert answers, path
        assert not any("### BEGIN SOLUTION" in a or "### END SOLUTION" in a for a in answers.values()), path
