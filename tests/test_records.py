"""autograder/records.py: the closed vocabularies and the run record's JSON form.

Fast tier: pure, no kernel.
"""
from __future__ import annotations

import json

import pytest

from autograder.engine.results import CellKind, CellResult, RecordedOutput, RunResult
from autograder.records import load_latest_records
from coursebase.vocabulary import REVIEW_FLAGS, Flag, Status


def test_the_status_words_are_exactly_the_closed_list():
    assert [s.value for s in Status] == ["graded", "timeout", "crashed", "failed", "missing"]


def test_the_flag_words_are_exactly_the_closed_list():
    assert [f.value for f in Flag] == ["late", "tampered", "attack", "override", "unsandboxed", "copy", "implausible"]


def test_the_flags_that_ask_for_review_are_the_suspicious_ones():
    # late and override are settled (priced, reasoned); unsandboxed is the instructor's own choice
    assert REVIEW_FLAGS == (Flag.ATTACK, Flag.TAMPERED, Flag.COPY, Flag.IMPLAUSIBLE)
    assert "copy" in REVIEW_FLAGS and "late" not in REVIEW_FLAGS


def test_every_status_and_flag_has_a_phrase_in_every_feedback_language():
    from autograder.feedback import WORDS

    for language, words in WORDS.items():
        assert set(words["status"]) == set(Status), language
        assert set(words["flag"]) == set(Flag), language
        assert all(isinstance(key, (Status, Flag)) for key in [*words["status"], *words["flag"]]), language


def test_a_word_prints_and_compares_as_itself():
    assert str(Status.TIMEOUT) == "timeout" and f"{Flag.LATE}" == "late"
    assert Status.GRADED == "graded" and Flag.ATTACK == "attack"
    assert json.dumps({"s": Status.FAILED}) == '{"s": "failed"}'
    assert Status("crashed") is Status.CRASHED
    with pytest.raises(ValueError):
        Status("passed")   # not a word of the list
    with pytest.raises(ValueError):
        Flag("cheating")


def record(**kw) -> RunResult:
    base = {"student_id": "s1", "assignment": "a1", "status": Status.GRADED, "cells": [
        CellResult("t1", 2.0, 1.5), CellResult("t2", 1.0, 0.0, error="AssertionError"),
        CellResult("essay", 3.0, None, kind=CellKind.MANUAL), CellResult("t3", 1.0, 0.0, ran=False)],
        "flags": {str(Flag.TAMPERED): "test cell 't1' was edited; restored"}, "message": "", "duration": 1.25}
    base.update(kw)
    return RunResult(**base)


def test_score_adds_cell_scores_and_a_manual_cell_waiting_counts_zero():
    r = record()
    assert r.score == 1.5 and r.max_score == 7.0
    assert RunResult("s", "a", Status.MISSING).score == 0.0


def test_a_record_survives_its_json_form():
    r = record(outputs=[RecordedOutput(0, "code", stdout="hi")], audit={"forks": 2})
    data = json.loads(r.dumps())
    assert data["status"] == "graded"
    assert data["score"] == 1.5 and data["max_score"] == 7.0
    back = RunResult.from_json(data)
    assert back == r and back.status is Status.GRADED
    assert back.cells[2].score is None and back.cells[3].ran is False
    assert data["flags"] == {"tampered": "test cell 't1' was edited; restored"}   # the word on disk
    assert [type(name) for name in back.flags] == [Flag]                          # a member in memory


def test_a_record_with_a_flag_outside_the_closed_list_is_refused_and_the_file_kept(tmp_path):
    good = record(student_id="s2")
    bad = json.loads(record().dumps())
    bad["flags"] = {"cheating": "not a word of the list"}
    with pytest.raises(ValueError, match="cheating"):
        RunResult.from_json(bad)
    path = tmp_path / "records.jsonl"
    text = json.dumps(bad) + "\n" + good.dumps() + "\n"
    path.write_text(text, encoding="utf-8")
    assert set(load_latest_records(path)) == {("s2", "a1")}   # s1 has no valid record: it is graded again
    assert path.read_text(encoding="utf-8") == text              # reading never rewrites the file


def test_latest_records_keeps_the_newest_line_and_skips_a_torn_one(tmp_path):
    path = tmp_path / "records.jsonl"
    first = record(status=Status.TIMEOUT)
    second = record(status=Status.GRADED, duration=2.0)
    other = record(student_id="s2", status=Status.CRASHED)
    path.write_text("\n".join([first.dumps(), other.dumps(), second.dumps(), second.dumps()[:40], "",
                               '{"status": "passed"}']) + "\n", encoding="utf-8")
    latest = load_latest_records(path)
    assert set(latest) == {("s1", "a1"), ("s2", "a1")}
    assert latest[("s1", "a1")].status is Status.GRADED and latest[("s1", "a1")].duration == 2.0
    assert latest[("s2", "a1")].status is Status.CRASHED


def test_latest_records_of_a_missing_file_is_empty(tmp_path):
    assert load_latest_records(tmp_path / "none.jsonl") == {}


# A line of records.jsonl as the executor wrote it before outputs, flags and kinds were typed.
OLD_LINE = {
    "student_id": "s7", "assignment": "a1", "status": "timeout", "message": "timeout: a cell ran past its 8 s limit",
    "duration": 9.5, "sandbox": "namespaces", "audit": {"tests_hash": "abc"}, "score": 2.0, "max_score": 5.0,
    "flags": {"late": "1 day late", "attack": "seen in the sandbox: socket"},
    "cells": [{"grade_id": "t1", "max_score": 2.0, "score": 2.0, "ran": True, "error": "", "kind": "test"},
              {"grade_id": "essay", "max_score": 3.0, "score": 0.0, "ran": False, "error": "not run", "kind": "manual"}],
    "outputs": [
        {"index": 0, "cell_type": "markdown", "grade_id": None, "source": "# Title", "stdout": "", "stderr": "",
         "error": "", "results": [], "truncated": False, "score": None, "max_score": None},
        {"index": 1, "cell_type": "code", "grade_id": "t1", "source": "assert f(1) == 1", "stdout": "ok\n",
         "stderr": "warn\n", "error": "", "results": [{"text/plain": "3"}, {"image/png": "iVBORw0KGgo="}],
         "truncated": True, "score": 2.0, "max_score": 2.0},
    ],
}


def test_an_old_record_loads_typed_and_writes_back_the_same_json():
    back = RunResult.from_json(OLD_LINE)
    assert back.status is Status.TIMEOUT and set(back.flags) == {Flag.LATE, Flag.ATTACK}
    assert [c.kind for c in back.cells] == [CellKind.TEST, CellKind.MANUAL]
    assert all(isinstance(c.kind, CellKind) for c in back.cells)
    first, second = back.outputs
    assert isinstance(second, RecordedOutput) and second.stdout == "ok\n" and second.truncated
    assert second.results == [{"text/plain": "3"}, {"image/png": "iVBORw0KGgo="}] and second.score == 2.0
    assert first.grade_id is None and not first.ran and second.ran
    assert json.loads(back.dumps()) == OLD_LINE          # the words and fields on disk are unchanged


def test_an_output_entry_missing_fields_gets_defaults_and_a_non_object_is_refused():
    # the oldest records kept only some fields, some as lists of lines (as notebooks store text)
    out = RecordedOutput.from_json({"cell_type": "code", "stdout": ["a\n", "b\n"], "results": ["junk", {"text/plain": "1"}],
                                    "unknown": 1}, position=4)
    assert (out.index, out.stdout, out.results, out.error, out.score) == (4, "a\nb\n", [{"text/plain": "1"}], "", None)
    assert CellResult.from_json({"grade_id": "t", "max_score": 1.0, "score": 1.0}).kind is CellKind.TEST
    with pytest.raises(ValueError, match="not an object"):
        RecordedOutput.from_json("stdout")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CellResult.from_json({"grade_id": "t", "max_score": 1.0, "score": 1.0, "kind": "bonus"})
