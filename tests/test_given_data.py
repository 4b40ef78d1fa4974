"""Instructor data comes from the instructor (issue 10, item 4), with real kernels and real nbgrader.

The dot product's tests compare the student's `prod` with `A * B`. `A` and `B` are defined by
the locked `given_tensors` cell, so in a test they are the judge's own values (from the kit's
copy of that cell), never the student's: rebinding them to zeros no longer passes the tests,
and a deleted or edited given cell is restored and flagged `tampered`.

A second, small course checks that random given data is identical in the kernel and in the
judge even when student code drew random numbers before the given cell.
"""
from __future__ import annotations

import json

import nbformat
import pytest
import torch  # noqa: F401 - imported before any given cell runs, as the warm parent does
from _assignment_helpers import REPO
from conftest import build_course, released, solved, submit, with_answers

from autograder.engine.judge_code import bound_names
from autograder.grade import grade_batch
from coursebase.layout import Course
from coursebase.vocabulary import Flag, Status

pytestmark = pytest.mark.slow

DOT = "02_dot_product"
FULL = {"test_step1_elementwise": 1.0, "test_step2_concatenate": 1.0,
        "test_step3_dot_product": 2.0, "test_step4_function": 2.0}
ZEROS = "A = torch.zeros(4, 4)\nB = torch.zeros(4, 4)\n"
HONEST_STEP1 = "prod = A * B\ndiff = A - B"
# Step 1 is checked against the instructor's A * B; steps 2 and 3 against the student's own prod and
# diff (a mistake in step 1 costs step 1 only), so rebinding A and B gains nothing anywhere: with zeros,
# prod is wrong (0 for step 1), and steps 2 and 3 score only because their formulas are right.


def _source() -> dict:
    return json.loads((REPO / "source" / DOT / f"{DOT}.ipynb").read_text(encoding="utf-8"))


def _drop(nb: dict, grade_id: str) -> dict:
    nb["cells"] = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


# student -> (notebook from (released, source), expected per-cell scores, expected in the `tampered` flag or None)
DOT_CASES = {
    "honest": (lambda rel, src: solved(rel, src), FULL, None),
    # A and B rebound to zeros in the answer cell, with a formula that is wrong (A @ B) but agrees on zeros;
    # step 4's function is right, and the hidden test calls it with the instructor's A and B
    "rebinds_given": (lambda rel, src: with_answers(solved(rel, src), {
        "step1_elementwise": ZEROS + "prod = A @ B\ndiff = A - B"}),
        {**FULL, "test_step1_elementwise": 0.0}, None),
    # the same, from a cell of the student's own (no nbgrader metadata) right after the given cell
    "rebinds_in_own_cell": (lambda rel, src: _insert_after(solved(rel, src), "given_tensors", ZEROS + "print(A)"),
                            {**FULL, "test_step1_elementwise": 0.0}, None),
    "deletes_given": (lambda rel, src: _drop(solved(rel, src), "given_tensors"), FULL, "given_tensors"),
    # deleted given cell and zeros of its own with a wrong formula: restored, flagged, and still 0 on step 1
    "deletes_and_rebinds": (lambda rel, src: _drop(with_answers(solved(rel, src), {
        "step1_elementwise": "import torch\n" + ZEROS + "prod = A @ B\ndiff = A - B"}), "given_tensors"),
        {**FULL, "test_step1_elementwise": 0.0}, "given_tensors"),
    "edits_given": (lambda rel, src: with_answers(solved(rel, src), {"given_tensors": "import torch\n" + ZEROS}),
                    FULL, "given_tensors"),
}


def _insert_after(nb: dict, grade_id: str, source: str) -> dict:
    at = next(i for i, c in enumerate(nb["cells"])
              if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)
    nb["cells"].insert(at + 1, {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
                                "execution_count": None})
    return nb


@pytest.fixture(scope="module")
def dot_batch(tmp_path_factory):
    course = build_course(tmp_path_factory.mktemp("given") / "course",
                          {DOT: REPO / "source" / DOT / f"{DOT}.ipynb"})
    rel, src = released(course, DOT), _source()
    for student, (build, _, _) in DOT_CASES.items():
        submit(course, student, DOT, build(json.loads(json.dumps(rel)), src))
    before = {p: p.read_bytes() for p in (course / "submitted").rglob("*") if p.is_file()}
    summary = grade_batch(Course.at(course), DOT, quiet=True)
    return course, {r.student_id: r for r in summary.graded}, before


@pytest.mark.parametrize("student", sorted(DOT_CASES))
def test_dot_product_scores_use_the_instructors_A_and_B(dot_batch, student):
    _, results, _ = dot_batch
    result = results[student]
    _, expected, _ = DOT_CASES[student]
    assert result.status == Status.GRADED, result.message
    assert {c.grade_id: c.score for c in result.cells} == expected, [c.error for c in result.cells]


@pytest.mark.parametrize("student", sorted(DOT_CASES))
def test_locked_given_cell_deleted_or_edited_is_flagged_tampered_naming_it(dot_batch, student):
    _, results, _ = dot_batch
    _, _, cell = DOT_CASES[student]
    flags = results[student].flags
    if cell is None:
        assert Flag.TAMPERED not in flags
    else:
        assert cell in flags[Flag.TAMPERED] and "restored" in flags[Flag.TAMPERED]
    assert "given_errors" not in results[student].audit  # the given cell runs in the judge as it is


def test_deleted_given_cell_is_restored_and_named_as_deleted(dot_batch):
    _, results, _ = dot_batch
    assert "read-only cell 'given_tensors' was deleted; restored" in results["deletes_given"].flags[Flag.TAMPERED]
    assert "read-only cell 'given_tensors' was edited; restored" in results["edits_given"].flags[Flag.TAMPERED]
    # the restored cell ran in the kernel: the student's own answers computed from it are right
    outputs = [o for o in results["deletes_given"].outputs if o.grade_id == "given_tensors"]
    assert len(outputs) == 1 and "A = torch.tensor" in outputs[0].source and not outputs[0].error


def test_the_submissions_are_not_modified(dot_batch):
    course, _, before = dot_batch
    assert {p: p.read_bytes() for p in (course / "submitted").rglob("*") if p.is_file()} == before


# ---------------------------------------------------------------- random given data

def _cell(source: str, grade_id: str, *, locked=False, solution=False, points=None) -> nbformat.NotebookNode:
    meta = {"grade": points is not None, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


def _random_notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("import torch", "setup", locked=True),
        _cell("### BEGIN SOLUTION\nwarmup = 1\n### END SOLUTION", "warmup", solution=True),
        _cell("W = torch.randn(3, 3)", "given_w", locked=True),
        _cell("### BEGIN SOLUTION\nw_total = W.sum()\n### END SOLUTION", "answer_w", solution=True),
        _cell("import torch\nassert torch.allclose(w_total, W.sum())", "test_w", locked=True, points=1),
        _cell("V = torch.randn(3, 3)", "given_v", locked=True),
        _cell("### BEGIN SOLUTION\nv_total = V.sum()\n### END SOLUTION", "answer_v", solution=True),
        _cell("import torch\nassert torch.allclose(v_total, V.sum())\nassert not torch.allclose(V, W)",
              "test_v", locked=True, points=1),
    ]
    nbformat.write(nb, str(path))
    return path


RANDOM_CASES = {
    # draws random numbers before the given cells: the kernel reseeds before each, as the judge does
    "draws_first": ({"warmup": "noise = torch.rand(1000)", "answer_w": "w_total = W.sum()",
                     "answer_v": "v_total = V.sum()"}, {"test_w": 1.0, "test_v": 1.0}),
    "reseeds_itself": ({"warmup": "torch.manual_seed(7)", "answer_w": "W = torch.ones(3, 3)\nw_total = W.sum()",
                        "answer_v": "v_total = V.sum()"}, {"test_w": 0.0, "test_v": 1.0}),
}


@pytest.fixture(scope="module")
def random_batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("random")
    course = build_course(base / "course", {"rnd": _random_notebook(base / "rnd.ipynb")})
    for student, (answers, _) in RANDOM_CASES.items():
        submit(course, student, "rnd", with_answers(released(course, "rnd"), answers))
    return {r.student_id: r for r in grade_batch(Course.at(course), "rnd", quiet=True).graded}


@pytest.mark.parametrize("student", sorted(RANDOM_CASES))
def test_random_given_data_is_the_same_in_the_kernel_and_the_judge(random_batch, student):
    result = random_batch[student]
    assert result.status == Status.GRADED, result.message
    assert {c.grade_id: c.score for c in result.cells} == RANDOM_CASES[student][1], [c.error for c in result.cells]
    assert not result.flags


# ---------------------------------------------------------------- which names are given

def test_bound_names_are_the_top_level_bindings_of_a_cell():
    source = ("import torch\nfrom torch import nn\nimport os.path\nA = B = 1\nfor i in range(3):\n    pass\n"
              "def f(x):\n    inner = 2\nclass C:\n    attr = 1\nsquares = [k * k for k in range(3)]\n"
              "if (w := 3):\n    pass\ntry:\n    pass\nexcept ValueError as err:\n    pass\n"
              "x, (y, z) = 1, (2, 3)\nprint(A)\n%matplotlib inline\n")
    assert bound_names(source) == {"torch", "nn", "os", "A", "B", "i", "f", "C", "squares", "w", "err",
                                   "x", "y", "z"}
    assert bound_names("this is not python (") == set()


def test_the_judge_runs_given_cells_alone_and_never_falls_back_to_the_student(tmp_path):
    """No kernel is needed here: a name that would be asked of the student fails on the missing channel."""
    import os
    import time

    from autograder.engine.judge import Judge

    judge = Judge(channel=None, seed=1)
    cwd, env = os.getcwd(), dict(os.environ)
    judge.run_given([
        ("given_ok", ("import os, torch\nT = torch.ones(2)\nMODE = os.environ.get('NBGRADER_EXECUTION')\n"
                      "FILES = sorted(os.listdir('.'))"), 1),
        ("given_reads", "X = 1\nY = open('data.csv').read()", 2),
        ("given_uses_student", "Z = prod * 2", 3),
        ("given_loops", "L = 2\nwhile True:\n    pass", 4),
    ], {"NBGRADER_EXECUTION": "autograde"}, str(tmp_path), timeout=1.0)
    assert (os.getcwd(), dict(os.environ)) == (cwd, env)  # restored after the given cells
    assert judge.given["MODE"] == "autograde" and judge.given["FILES"] == []
    assert (judge.given["X"], judge.given["L"]) == (1, 2)
    assert "FileNotFoundError" in judge.given_errors["given_reads"]
    assert "NameError" in judge.given_errors["given_uses_student"]  # no student namespace in a given cell
    assert "TimeoutError" in judge.given_errors["given_loops"]
    deadline = time.monotonic() + 60
    for name in ("Y", "Z"):
        verdict = judge.run_test(f"import torch\nassert X == 1\n{name}", 1.0, deadline)
        assert verdict.score == 0.0 and "NameError" in verdict.error and "given_" in verdict.error, verdict.error
    # each test gets its own copy: changing a given tensor in place changes no other test
    assert judge.run_test("T.add_(1)\nassert float(T.sum()) == 4.0", 1.0, deadline).score == 1.0
    assert judge.run_test("assert float(T.sum()) == 2.0", 1.0, deadline).score == 1.0


def test_every_locked_cell_is_in_every_plan_and_a_deleted_one_is_named():
    """The plan (pure): a deleted locked text cell and a deleted given cell come back, in release order."""
    from autograder.engine.grading_kit import Kit, KitCell
    from autograder.engine.run_plan import plan

    def kit_cell(gid, cell_type="code", locked=True, grade=False, solution=False, points=None, source=""):
        return KitCell(grade_id=gid, cell_type=cell_type, locked=locked, grade=grade, solution=solution,
                       points=points, checksum=None, source=source, visible_source=source)

    cells = [kit_cell("intro", "markdown", source="# Read me"), kit_cell("given", source="A = 1"),
             kit_cell("answer", locked=False, solution=True, source="raise NotImplementedError()"),
             kit_cell("test", grade=True, points=1.0, source="assert a == A")]
    kit = Kit(assignment="a", notebook="a.ipynb", cells=cells)
    assert [c.grade_id for c in kit.given_cells()] == ["given"] and kit.given_seed("given", 10) == 10

    def nb_cell(gid, source, cell_type="code"):
        return {"cell_type": cell_type, "source": source, "metadata": {"nbgrader": {"grade_id": gid}}}

    submitted = {"cells": [nb_cell("answer", "A = 0\na = 0"), nb_cell("test", "assert a == A")]}
    planned, findings = plan(submitted, kit)
    assert [(c.grade_id, c.source, c.given) for c in planned] == [
        ("intro", "# Read me", False), ("given", "A = 1", True), ("answer", "A = 0\na = 0", False),
        ("test", "assert a == A", False)]
    assert findings == ["read-only cell 'intro' was deleted; restored", "read-only cell 'given' was deleted; restored"]
    # an unanswered, deleted answer cell is the student's business: not restored, not reported
    planned, findings = plan({"cells": [nb_cell("intro", "# Read me", "markdown"), nb_cell("given", "A = 1"),
                                        nb_cell("test", "assert a == A")]}, kit)
    assert findings == [] and [c.grade_id for c in planned] == ["intro", "given", "test"]


def test_given_cells_never_run_outside_their_empty_folder(tmp_path):
    from autograder.engine.judge import Judge

    judge = Judge(channel=None, seed=1)
    judge.run_given([("given", "A = 1", 1)], {}, str(tmp_path / "absent"))
    assert judge.given == {} and "cannot enter its empty folder" in judge.given_errors["given"]
    verdict = judge.run_test("A", 1.0, float("inf"))
    assert verdict.score == 0.0 and "NameError" in verdict.error and "cannot enter" in verdict.error
