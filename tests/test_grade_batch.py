"""The story of one grading batch: 20 submissions, honest and hostile, graded in one command.

Every bad case of issue 3 is here with the score and status it deserves; the
batch always finishes. The scores are checked against what each submission
solved, cell by cell.
"""
from __future__ import annotations

import json

import pytest
from conftest import FIXTURES, build_course, copy_course, released, submit, with_answers

from autograder.grade import grade_batch
from autograder.records import load_latest_records
from coursebase.layout import Course
from coursebase.vocabulary import Status

pytestmark = pytest.mark.slow

GOOD = {
    "double_answer": "def double(x):\n    return 2 * x",
    "value_answer": "value = 50",
    "count_answer": "def count_parameters(model):\n"
                    "    return sum(p.numel() for p in model.parameters() if p.requires_grad)",
}
FULL = {"test_double": 2.0, "test_value": 1.0, "test_count": 2.0, "test_partial": 3.0}
ZERO = {k: 0.0 for k in FULL}


def answers(**changes):
    out = dict(GOOD)
    out.update(changes)
    return out


def _drop(nb, grade_id):
    nb["cells"] = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def _duplicate(nb, grade_id):
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)
    nb["cells"].append(json.loads(json.dumps(cell)))
    return nb


# student -> (how to build the notebook from the released one, expected per-cell scores, expected status)
CASES = {
    "honest": (lambda nb: with_answers(nb, GOOD), FULL, Status.GRADED),
    "honest_numpy_style": (lambda nb: with_answers(nb, answers(
        double_answer="import numpy as np\ndef double(x):\n    return x + x",
        count_answer="def count_parameters(model):\n    total = 0\n    for p in model.parameters():\n"
                     "        if p.requires_grad:\n            total += int(np.prod(p.shape))\n    return total")),
        FULL, Status.GRADED),
    "partial": (lambda nb: with_answers(nb, answers(
        value_answer="value = 49",
        count_answer="def count_parameters(model):\n    return sum(p.numel() for p in model.parameters())")),
        {"test_double": 2.0, "test_value": 0.0, "test_count": 0.0, "test_partial": 2.0}, Status.GRADED),
    "empty": (lambda nb: nb, ZERO, Status.GRADED),
    "crash_os_exit": (lambda nb: with_answers(nb, answers(value_answer="value = 50\nimport os\nos._exit(3)")),
                      {**ZERO, "test_double": 2.0}, Status.CRASHED),
    "crash_segfault": (lambda nb: with_answers(nb, answers(
        value_answer="value = 50\nimport ctypes\nctypes.string_at(0)")), {**ZERO, "test_double": 2.0}, Status.CRASHED),
    "exit_right_after_test": (lambda nb: with_answers(nb, answers(count_answer="import os\nos._exit(0)")),
                              {**ZERO, "test_double": 2.0, "test_value": 1.0}, Status.CRASHED),
    "loop_in_function": (lambda nb: with_answers(nb, answers(double_answer="def double(x):\n    while True:\n        pass")),
                         {"test_double": 0.0, "test_value": 1.0, "test_count": 2.0, "test_partial": 0.0},
                         Status.TIMEOUT),
    "loop_in_cell": (lambda nb: with_answers(nb, answers(value_answer="while True:\n    pass")),
                     {"test_double": 2.0, "test_value": 0.0, "test_count": 2.0, "test_partial": 0.0}, Status.TIMEOUT),
    "stderr_warning": (lambda nb: with_answers(nb, answers(double_answer=(
        "import sys, warnings\ndef double(x):\n    print('NNPACK: unsupported hardware', file=sys.stderr)\n"
        "    warnings.warn('a torch warning')\n    return 2 * x"))), FULL, Status.GRADED),
    "not_json": (lambda nb: b"{ this is not a notebook", ZERO, Status.FAILED),
    "no_cells": (lambda nb: {"metadata": {}}, ZERO, Status.FAILED),
    "print_flood": (lambda nb: with_answers(nb, answers(
        value_answer="print('\\n'.join(map(str, range(10**6))))\nvalue = 50")), FULL, Status.GRADED),
    "sys_exit": (lambda nb: with_answers(nb, answers(value_answer="value = 50\nimport sys\nsys.exit()")),
                 FULL, Status.GRADED),
    "memory_hog": (lambda nb: with_answers(nb, answers(
        double_answer=GOOD["double_answer"] + "\nhog = [bytearray(64 << 20) for _ in range(10**4)]")),
        FULL, Status.GRADED),
    "fork_bomb": (lambda nb: with_answers(nb, answers(
        double_answer=GOOD["double_answer"] + "\nimport os\nwhile True:\n    os.fork()")), FULL, Status.GRADED),
    "deleted_test": (lambda nb: _drop(with_answers(nb, GOOD), "test_value"), FULL, Status.GRADED),
    "duplicated_test": (lambda nb: _duplicate(with_answers(nb, GOOD), "test_double"), FULL, Status.GRADED),
    "edited_test": (lambda nb: with_answers(nb, answers(value_answer="value = 49", test_value="pass")),
                    {**FULL, "test_value": 0.0, "test_partial": 2.0}, Status.GRADED),
    "shell_output": (lambda nb: with_answers(nb, answers(
        double_answer=GOOD["double_answer"] + "\nimport os\nos.system('echo from-the-shell')")), FULL, Status.GRADED),
}


@pytest.fixture(scope="module")
def engine_template(tmp_path_factory):
    return build_course(tmp_path_factory.mktemp("engine") / "course", {"ps2": FIXTURES / "engine" / "ps2.ipynb"})


@pytest.fixture(scope="module")
def batch(engine_template, tmp_path_factory):
    course = copy_course(engine_template, tmp_path_factory.mktemp("batch") / "course")
    nb = released(course, "ps2")
    for student, (build, _, _) in CASES.items():
        submit(course, student, "ps2", build(json.loads(json.dumps(nb))))
    before = {p: p.read_bytes() for p in (course / "submitted").rglob("*") if p.is_file()}
    summary = grade_batch(Course.at(course), "ps2", quiet=True)
    return course, summary, before


def test_every_submission_gets_one_record(batch):
    course, summary, _ = batch
    assert sorted(r.student_id for r in summary.graded) == sorted(CASES)
    lines = (course / ".autograder" / "records.jsonl").read_text().splitlines()
    assert len(lines) == len(CASES)
    for record in map(json.loads, lines):  # the audit trail, for failed runs too
        assert {"submission_hash", "tests_hash", "seed", "versions", "graded_at"} <= set(record["audit"])
        assert record["audit"]["versions"]["torch"] and record["audit"]["seed"] == 1234


@pytest.mark.parametrize("student", sorted(CASES))
def test_score_and_status(batch, student):
    _, summary, _ = batch
    result = next(r for r in summary.graded if r.student_id == student)
    _, expected, status = CASES[student]
    assert {c.grade_id: c.score for c in result.cells} == expected, result.message
    assert result.status == status, result.message


def test_scores_are_in_nbgraders_gradebook(batch):
    from nbgrader.api import Gradebook

    course, summary, _ = batch
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        for student, (_, expected, _) in CASES.items():
            sub = gb.find_submission("ps2", student)
            assert {g.name: g.auto_score for g in sub.notebooks[0].grades} == expected
            assert sub.score == sum(expected.values())


def test_submitted_files_are_never_modified(batch):
    course, _, before = batch
    after = {p: p.read_bytes() for p in (course / "submitted").rglob("*") if p.is_file()}
    assert after == before


def test_cells_that_ran_before_a_crash_keep_scores_and_say_why(batch):
    _, summary, _ = batch
    crash = next(r for r in summary.graded if r.student_id == "crash_os_exit")
    assert "exit code 3" in crash.message
    not_run = [c for c in crash.cells if not c.ran]
    assert {c.grade_id for c in not_run} == {"test_value", "test_count", "test_partial"}
    seg = next(r for r in summary.graded if r.student_id == "crash_segfault")
    assert "segmentation fault" in seg.message


def test_timeouts_are_interrupted_and_the_rest_still_runs(batch):
    _, summary, _ = batch
    looping = next(r for r in summary.graded if r.student_id == "loop_in_cell")
    value_cell = next(o for o in looping.outputs if "while True" in o.source)
    assert "Interrupted" in value_cell.error
    assert "timeout" in looping.message


def test_stderr_does_not_zero_a_passing_test(batch):
    """Deviation from nbgrader, which gives 0 to a test cell that printed anything on stderr."""
    _, summary, _ = batch
    result = next(r for r in summary.graded if r.student_id == "stderr_warning")
    assert result.score == 8.0


def test_output_is_capped_while_it_runs(batch):
    _, summary, _ = batch
    result = next(r for r in summary.graded if r.student_id == "print_flood")
    flood = next(o for o in result.outputs if "range(10**6)" in o.source)
    assert flood.truncated is True
    assert len(flood.stdout) <= 64 * 1024
    shell = next(r for r in summary.graded if r.student_id == "shell_output")
    assert any("from-the-shell" in o.stdout for o in shell.outputs)


def test_unreadable_notebook_fails_with_a_message(batch):
    _, summary, _ = batch
    result = next(r for r in summary.graded if r.student_id == "not_json")
    assert "not valid JSON" in result.message
    assert all(c.score == 0.0 and not c.ran for c in result.cells)


def test_tampering_is_restored_and_flagged(batch):
    _, summary, _ = batch
    by = {r.student_id: r for r in summary.graded}
    assert "test_value" in by["deleted_test"].flags["tampered"] and "deleted" in by["deleted_test"].flags["tampered"]
    assert "more than once" in by["duplicated_test"].flags["tampered"]
    assert "edited" in by["edited_test"].flags["tampered"]
    assert "tampered" not in by["honest"].flags


def test_honest_work_raises_no_flags(batch):
    _, summary, _ = batch
    by = {r.student_id: r for r in summary.graded}
    for student in ("honest", "honest_numpy_style", "partial", "empty"):
        assert by[student].flags == {}, (student, by[student].flags)


def test_hidden_tests_never_reach_the_record_shown_to_students(batch):
    _, summary, _ = batch
    for result in summary.graded:
        text = json.dumps([o.to_json() for o in result.outputs]) + json.dumps([c.error for c in result.cells])
        assert "double(-3)" not in text
        assert "BEGIN HIDDEN" not in text


def test_second_run_grades_nothing_and_force_regrades(batch):
    course, _, _ = batch
    again = grade_batch(Course.at(course), "ps2", quiet=True)
    assert again.graded == [] and sorted(again.skipped) == sorted(CASES)
    forced = grade_batch(Course.at(course), "ps2", students=["honest"], force=True, quiet=True)
    assert [r.student_id for r in forced.graded] == ["honest"] and forced.graded[0].score == 8.0
    latest = load_latest_records(course / ".autograder" / "records.jsonl")
    assert len(latest) == len(CASES)
