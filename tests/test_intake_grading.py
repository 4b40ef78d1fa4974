"""Issue 10 item 5, end to end: the submission time comes from the LMS or the file system, never the upload.

A notebook handed in 12 days late, once plainly and once with a forged early
``timestamp.txt`` inside the student's folder, goes through the real `collect`,
the real sandboxed grading and the real export: both get the same late penalty
and the same `late` flag; the forged one also gets `attack`, and its file is kept.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from conftest import FIXTURES, build_course, released, with_answers
from test_grade_batch import GOOD

from autograder.collect import collect
from autograder.export import grade_rows
from autograder.grade import grade_batch
from coursebase.layout import Course
from coursebase.submission import UPLOADED_TIMESTAMP_DETAIL
from coursebase.vocabulary import Flag

pytestmark = pytest.mark.slow

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 11, 30, tzinfo=UTC)
HANDED_IN = DUE + dt.timedelta(days=11, hours=12)      # 12 started days late


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = build_course(tmp_path_factory.mktemp("intake") / "course", {"ps2": FIXTURES / "engine" / "ps2.ipynb"})
    policy = root / "course.toml"
    policy.write_text(policy.read_text() + f'\n[assignments.ps2]\ndue = "{DUE.isoformat()}"\n\n'
                      '[late_policy]\nkind = "per_day"\nper_day = 0.1\nmax_penalty = 0.5\ngrace_minutes = 0\n')
    return root


def _upload(folder: Path, notebook: dict, forged: str | None) -> None:
    folder.mkdir(parents=True)
    path = folder / "homework.ipynb"
    path.write_text(json.dumps(notebook))
    os.utime(path, (HANDED_IN.timestamp(), HANDED_IN.timestamp()))   # what the LMS download carries
    if forged is not None:
        (folder / "timestamp.txt").write_text(forged)


def test_a_forged_timestamp_in_the_upload_changes_nothing_but_the_attack_flag(course, tmp_path):
    notebook = with_answers(released(course, "ps2"), GOOD)
    lms = tmp_path / "lms"
    _upload(lms / "honest_Plain", notebook, None)
    _upload(lms / "forger_Early", notebook, "2026-11-20T10:00:00+00:00")

    summary = collect(Course.at(course), "ps2", lms, show=False)
    assert sorted(c.student_id for c in summary.collected) == ["forger", "honest"]

    by = {r.student_id: r for r in grade_batch(Course.at(course), "ps2", quiet=True).graded}
    honest, forger = by["honest"], by["forger"]
    assert honest.status.value == forger.status.value == "graded"
    assert honest.score == forger.score == 8.0
    # 11.5 days after the due date: 12 started days, capped at max_penalty 50 % of 8 points
    assert honest.flags[Flag.LATE.value].startswith("12 days late") and "penalty 4" in honest.flags[Flag.LATE.value]
    assert forger.flags[Flag.LATE.value] == honest.flags[Flag.LATE.value]
    assert Flag.ATTACK.value not in honest.flags
    assert UPLOADED_TIMESTAMP_DETAIL in forger.flags[Flag.ATTACK.value]

    rows = {r.student_id: r for r in grade_rows(Course.at(course), ["ps2"])}
    assert rows["forger"].late_penalty == rows["honest"].late_penalty == 4.0
    assert rows["forger"].score == rows["honest"].score == 4.0
    assert rows["forger"].submitted_at == rows["honest"].submitted_at == HANDED_IN
    assert Flag.ATTACK.value in rows["forger"].flags and Flag.LATE.value in rows["forger"].flags
    # nothing the student gave is lost: their file is kept, under a name that is never read as the time
    kept = course / "submitted" / "forger" / "ps2" / "uploaded-timestamp.txt"
    assert kept.read_text() == "2026-11-20T10:00:00+00:00"
