"""autograder/engine/run_plan.py ``plan``: the run of one submission, restored from the kit like nbgrader's OverwriteCells.

Fast tier: a hand-built kit and notebook dicts, no gradebook and no kernel.
"""
from __future__ import annotations

import copy

import pytest
from nbformat import NotebookNode
from nbgrader.utils import compute_checksum

from autograder.engine.grading_kit import Kit, KitCell
from autograder.engine.run_plan import plan

HIDDEN_TEST = ("assert add(1, 2) == 3\n"
               "### BEGIN HIDDEN TESTS\n"
               "assert add(-1, 1) == 0\n"
               "### END HIDDEN TESTS\n")
VISIBLE_TEST = "assert add(1, 2) == 3\n"
ANSWER_STUB = "def add(a, b):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
ESSAY_STUB = "YOUR ANSWER HERE"


def _checksum(grade_id, cell_type, source, *, grade, solution, locked, points):
    return compute_checksum(NotebookNode({
        "cell_type": cell_type, "source": source,
        "metadata": NotebookNode({"nbgrader": NotebookNode({
            "grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id,
            "points": points or 0.0})})}))


def kit_cell(grade_id, cell_type, *, locked=False, grade=False, solution=False, points=None, source="",
             visible=None):
    return KitCell(grade_id=grade_id, cell_type=cell_type, locked=locked, grade=grade, solution=solution,
                   points=points, source=source, visible_source=source if visible is None else visible,
                   checksum=_checksum(grade_id, cell_type, source if visible is None else visible, grade=grade,
                                      solution=solution, locked=locked, points=points))


KIT = Kit(assignment="a1", notebook="a1.ipynb", cells=[
    kit_cell("intro", "markdown", locked=True, source="# Adding numbers"),
    kit_cell("data", "code", locked=True, source="import numpy as np\nX = np.arange(3)\n"),
    kit_cell("answer", "code", solution=True, source=ANSWER_STUB),
    kit_cell("test_add", "code", locked=True, grade=True, points=2.0, source=HIDDEN_TEST, visible=VISIBLE_TEST),
    kit_cell("essay", "markdown", grade=True, solution=True, points=3.0, source=ESSAY_STUB),
])


def cell(grade_id, cell_type, source):
    meta = {"nbgrader": {"grade_id": grade_id}} if grade_id else {}
    return {"cell_type": cell_type, "metadata": meta, "source": source}


def released() -> dict:
    """The notebook as released: every kit cell with its visible source."""
    return {"cells": [cell(c.grade_id, c.cell_type, c.visible_source) for c in KIT.cells]}


def ids(planned):
    return [p.grade_id for p in planned]


def test_an_honest_notebook_is_planned_in_order_with_no_findings():
    nb = released()
    nb["cells"][2]["source"] = "def add(a, b):\n    return a + b\n"
    nb["cells"].insert(3, cell(None, "code", "print(add(2, 2))"))  # the student's own scratch cell
    planned, findings = plan(nb, KIT)
    assert findings == []
    assert ids(planned) == ["intro", "data", "answer", None, "test_add", "essay"]
    assert [p.index for p in planned] == list(range(6))
    assert [p.kind for p in planned] == ["text", "code", "code", "code", "test", "manual"]
    assert planned[2].source == "def add(a, b):\n    return a + b\n"   # the student's answer runs
    assert planned[3].source == "print(add(2, 2))" and planned[3].grade_id is None


def test_a_test_cell_runs_only_its_visible_part_and_is_judged_with_the_hidden_tests():
    planned, _ = plan(released(), KIT)
    test = planned[3]
    assert test.kind == "test" and test.points == 2.0
    assert test.source == VISIBLE_TEST and "HIDDEN" not in test.source and "HIDDEN" not in test.shown_source
    assert test.judge_source == HIDDEN_TEST


def test_given_cells_are_marked_for_reseeding_and_nothing_else_is():
    planned, _ = plan(released(), KIT)
    assert [p.grade_id for p in planned if p.given] == ["data"]


def test_an_edited_test_cell_is_restored_and_named():
    nb = released()
    nb["cells"][3]["source"] = "pass  # trust me"
    planned, findings = plan(nb, KIT)
    assert findings == ["test cell 'test_add' was edited; restored"]
    assert planned[3].source == VISIBLE_TEST and planned[3].judge_source == HIDDEN_TEST


def test_whitespace_around_a_test_is_not_an_edit():
    nb = released()
    nb["cells"][3]["source"] = "\n" + VISIBLE_TEST + "\n\n"
    assert plan(nb, KIT)[1] == []


def test_an_edited_locked_cell_runs_the_gradebooks_version():
    nb = released()
    nb["cells"][1]["source"] = "X = 'mine'"
    planned, findings = plan(nb, KIT)
    assert findings == ["read-only cell 'data' was edited; restored"]
    assert planned[1].source == KIT.cells[1].source and planned[1].given


def test_deleted_cells_are_put_back_after_their_release_predecessor():
    nb = released()
    del nb["cells"][3]   # test_add
    del nb["cells"][1]   # data (a given cell: nbgrader would not restore it, we do)
    planned, findings = plan(nb, KIT)
    assert ids(planned) == ["intro", "data", "answer", "test_add", "essay"]
    assert "read-only cell 'data' was deleted; restored" in findings
    assert "cell 'test_add' was deleted; restored" in findings
    assert len(findings) == 2
    assert planned[3].kind == "test" and planned[3].judge_source == HIDDEN_TEST


def test_a_deleted_first_cell_goes_back_to_the_top():
    nb = released()
    del nb["cells"][0]
    planned, findings = plan(nb, KIT)
    assert ids(planned)[0] == "intro"
    assert findings == ["read-only cell 'intro' was deleted; restored"]


def test_restoring_follows_release_order_even_when_the_student_moved_cells():
    nb = released()
    nb["cells"] = [nb["cells"][4], nb["cells"][2]]   # essay then answer; intro, data, test_add deleted
    planned, findings = plan(nb, KIT)
    # intro has no predecessor: top; data follows intro; test_add follows answer
    assert ids(planned) == ["intro", "data", "essay", "answer", "test_add"]
    assert len(findings) == 3


def test_a_deleted_ordinary_answer_cell_is_not_restored():
    nb = released()
    del nb["cells"][2]   # "answer": not graded, not locked
    planned, findings = plan(nb, KIT)
    assert "answer" not in ids(planned) and findings == []


def test_a_duplicated_test_is_judged_once_and_the_copy_reported():
    nb = released()
    nb["cells"].append(copy.deepcopy(nb["cells"][3]))
    planned, findings = plan(nb, KIT)
    assert [p.kind for p in planned].count("test") == 1
    assert findings == ["cell 'test_add' appears more than once; only the first counts"]


def test_a_duplicated_answer_runs_as_an_ordinary_cell_without_a_grade_id():
    nb = released()
    nb["cells"].append(cell("answer", "code", "def add(a, b):\n    return 0\n"))
    planned, findings = plan(nb, KIT)
    assert findings == ["cell 'answer' appears more than once; only the first counts"]
    assert ids(planned).count("answer") == 1
    assert planned[-1].grade_id is None and planned[-1].source == "def add(a, b):\n    return 0\n"


def test_a_test_turned_into_markdown_is_restored_as_code():
    nb = released()
    nb["cells"][3]["cell_type"] = "markdown"
    planned, findings = plan(nb, KIT)
    assert findings[0] == "cell 'test_add' was changed from code to markdown; restored"
    assert planned[3].cell_type == "code" and planned[3].kind == "test"


def test_an_unknown_grade_id_is_an_ordinary_cell():
    nb = released()
    nb["cells"].append(cell("test_extra", "code", "x = 1"))
    planned, findings = plan(nb, KIT)
    assert findings == [] and planned[-1].grade_id is None and planned[-1].kind == "code"


def test_a_manual_answer_left_as_released_is_unchanged_and_an_edited_one_is_not():
    planned, _ = plan(released(), KIT)
    assert planned[4].kind == "manual" and planned[4].points == 3.0 and planned[4].unchanged_answer
    nb = released()
    nb["cells"][4]["source"] = "Addition is commutative."
    planned, findings = plan(nb, KIT)
    assert not planned[4].unchanged_answer and planned[4].source == "Addition is commutative." and findings == []


def test_a_deleted_manual_cell_is_restored_as_unanswered():
    nb = released()
    del nb["cells"][4]
    planned, findings = plan(nb, KIT)
    assert planned[-1].grade_id == "essay" and planned[-1].unchanged_answer
    assert findings == ["cell 'essay' was deleted; restored"]


def test_source_as_a_list_of_lines_is_joined():
    nb = released()
    nb["cells"][3]["source"] = VISIBLE_TEST.splitlines(keepends=True)
    assert plan(nb, KIT)[1] == []


def test_hostile_metadata_is_treated_as_an_ordinary_cell():
    nb = released()
    nb["cells"].append({"cell_type": "code", "metadata": "nope", "source": "a"})
    nb["cells"].append({"cell_type": "code", "metadata": {"nbgrader": ["x"]}, "source": "b"})
    nb["cells"].append({"cell_type": "code", "metadata": {"nbgrader": {"grade_id": ["test_add"]}}, "source": "c"})
    planned, findings = plan(nb, KIT)
    assert findings == [] and ids(planned)[-3:] == [None, None, None]


@pytest.mark.parametrize("notebook, message", [
    ({}, "the notebook has no list of cells"),
    ({"cells": "x"}, "the notebook has no list of cells"),
    ({"cells": ["x"]}, "a cell of the notebook is not an object"),
])
def test_a_malformed_notebook_is_a_plain_error(notebook, message):
    with pytest.raises(ValueError, match=message):
        plan(notebook, KIT)


def test_plan_does_not_modify_the_notebook_it_reads():
    nb = released()
    del nb["cells"][3]
    before = copy.deepcopy(nb)
    plan(nb, KIT)
    assert nb == before
