"""Grading integrity (issue 5): hostile submissions get nothing, change nothing, leave nothing.

One real batch grades every submission of tests/attack_corpus.py together with
an honest full-marks and an honest partial submission, in a real course
released by nbgrader, with the real sandbox and judge. The tests then read what
that one run left: records, the nbgrader gradebook, the course files and the
process table.

What each attack must end with:
* 0 points for every graded cell it did not honestly solve, and a status from
  its allowed set (the batch always finishes, one record per student);
* nothing secret in anything the grading produced for it (hidden tests,
  solutions, the grader's environment) and no ``BREACH`` line, which an attack
  prints only when it got something it must not have (see attack_corpus);
* the ``attack`` flag naming what was seen, for every attack a scan or the
  audit hook can see. No attack flag is required for these, because nothing
  about them is visible (each Attack's ``no_flag_because`` says why):
  atk03 (rebinding names), atk11 (printing), atk21/atk22 (bytes written to an
  inherited descriptor), atk23 (blinds the audit and hides every name),
  atk24 (reported as ``tampered`` instead), atk25 (opens files in its own dir).
And for the whole batch: course files unchanged, the gradebook opens with
exactly one submission per student and the scores of the records, and no
process started by a submission is still alive.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

import attack_corpus as corpus
import pytest
from _processes import survivors as find_survivors
from attack_corpus import Attack, Target
from conftest import TEST_POLICY, build_course, released, submit, with_answers

pytestmark = pytest.mark.slow  # one real grading batch of the whole attack corpus

HONEST_FULL = "zz_honest_full"
HONEST_PARTIAL = "zz_honest_partial"


def _policy() -> str:
    """TEST_POLICY with short limits: a cell gets 4 s, a notebook 20 s, the private disk 32 MB."""
    text = TEST_POLICY
    for key, value in (("cell_timeout", 4), ("notebook_timeout", 20), ("disk_mb", 32)):
        text, n = re.subn(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
        assert n == 1, f"TEST_POLICY has no single '{key}' line"
    return text


@dataclass
class Batch:
    course: Path
    target: Target
    attacks: list[Attack]
    results: dict            # student_id -> RunResult (what grade_batch returned)
    record_lines: dict       # student_id -> number of lines in records.jsonl
    before: dict[str, str]   # course file -> hash, before grading
    after: dict[str, str]
    survivors: list[str]     # processes of this run still alive after the batch


def course_files(root: Path) -> dict[str, str]:
    """Every file of the course but the grader's own state, by content hash (links by their target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".autograder") or rel.startswith("gradebook.db"):
            continue
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def survivors(tag: str) -> list[tuple[int, str]]:
    """Processes whose name or command line carries the run's tag."""
    return find_survivors(tag, 'atk')


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    from autograder.grade import grade_batch
    from coursebase.layout import Course

    root = build_course(tmp_path_factory.mktemp("attacks") / "course", {corpus.ASSIGNMENT: corpus.SOURCE}, _policy())
    release = released(root, corpus.ASSIGNMENT)
    target = Target.new(root, victim=HONEST_FULL)
    attacks = corpus.build_corpus(target)
    submit(root, HONEST_FULL, corpus.ASSIGNMENT, with_answers(release, corpus.HONEST_FULL))
    submit(root, HONEST_PARTIAL, corpus.ASSIGNMENT, with_answers(release, corpus.HONEST_PARTIAL))
    for attack in attacks:
        folder = submit(root, attack.student, corpus.ASSIGNMENT, attack.notebook(release, target))
        for name, dest in attack.links.items():
            os.symlink(root / dest.format(victim=target.victim), folder / name)
    before = course_files(root)
    # a secret in the grader's environment (as an LMS token or a database password would be)
    os.environ[corpus.SECRET_ENV] = target.secret
    try:
        summary = grade_batch(Course.at(root), corpus.ASSIGNMENT, quiet=True)
    finally:
        del os.environ[corpus.SECRET_ENV]
    after = course_files(root)
    alive = survivors(target.tag)
    lines: dict[str, int] = {}
    records = Course.at(root).records
    for line in records.read_text(encoding="utf-8").splitlines() if records.exists() else []:
        sid = json.loads(line)["student_id"]
        lines[sid] = lines.get(sid, 0) + 1
    yield Batch(course=root, target=target, attacks=attacks,
                results={r.student_id: r for r in (summary.graded if summary else [])},
                record_lines=lines, before=before, after=after, survivors=[text for _, text in alive])
    for pid, _ in alive:  # processes this test started (through the grader) must not outlive it
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _attack_ids():
    # ids only: the corpus needs a course path to build, the parameters are looked up in the batch
    return [a.student for a in corpus.build_corpus(Target.new(Path("/nonexistent"), HONEST_FULL))]


ATTACKS = _attack_ids()
FLAGGED = [a.student for a in corpus.build_corpus(Target.new(Path("/nonexistent"), HONEST_FULL)) if a.flag_words]


def _attack(batch: Batch, student: str) -> Attack:
    return next(a for a in batch.attacks if a.student == student)


def _shown_text(result) -> str:
    """Everything the grading produced for a student, as one string (cell sources excluded: they are theirs)."""
    data = result.to_json()
    for out in data.get("outputs", []):
        out.pop("source", None)
    return json.dumps(data, ensure_ascii=False)


# ---------------------------------------------------------------------------- the batch as a whole

def test_corpus_covers_issue_5():
    assert len(ATTACKS) >= 15
    assert len(set(ATTACKS)) == len(ATTACKS)


def test_batch_finished_with_one_record_per_student(batch):
    students = {HONEST_FULL, HONEST_PARTIAL, *ATTACKS}
    assert set(batch.results) == students
    assert batch.record_lines == {s: 1 for s in students}


@pytest.mark.parametrize("student,score", [(HONEST_FULL, corpus.MAX_SCORE),
                                           (HONEST_PARTIAL, corpus.HONEST_PARTIAL_SCORE)])
def test_honest_submissions_get_exactly_their_marks(batch, student, score):
    result = batch.results[student]
    assert result.status.value == "graded", result.message
    assert result.score == score
    assert result.max_score == corpus.MAX_SCORE
    if student == HONEST_PARTIAL:
        assert {c.grade_id: c.score for c in result.cells} == {"test_answer": 2.0, "test_count": 0.0,
                                                                "test_tensor": 2.0}


@pytest.mark.parametrize("student", [HONEST_FULL, HONEST_PARTIAL])
def test_honest_submissions_are_not_flagged(batch, student):
    assert batch.results[student].flags == {}


def test_course_files_unchanged(batch):
    # source/, release/, nbgrader_config.py, course.toml and every student's submitted files,
    # and no new file anywhere in the course (e.g. one written "later" by a background process)
    changed = sorted(k for k in set(batch.before) | set(batch.after) if batch.before.get(k) != batch.after.get(k))
    # the grader's own output for nbgrader's formgrader: exactly one autograded notebook per graded student
    autograded = sorted(k for k in changed if k.startswith("autograded/"))
    assert autograded == sorted(f"autograded/{s}/{corpus.ASSIGNMENT}/hw.ipynb" for s in batch.results)
    changed = [k for k in changed if k not in autograded]
    assert changed == []
    assert any(k.startswith("source/") for k in batch.before) and "course.toml" in batch.before


def test_gradebook_opens_with_one_submission_per_student_and_the_recorded_scores(batch):
    from autograder.gradebook import open_gradebook
    from coursebase.layout import Course

    with open_gradebook(Course.at(batch.course).db_url) as gb:
        subs = gb.assignment_submissions(corpus.ASSIGNMENT)
        scores = {s.student_id: s.score for s in subs}
        assert len(subs) == len(scores) == len(batch.results)
    assert scores == {sid: r.score for sid, r in batch.results.items()}


def test_no_process_survives_the_batch(batch):
    assert batch.survivors == []


# ---------------------------------------------------------------------------- each attack

@pytest.mark.parametrize("student", ATTACKS)
def test_attack_gets_nothing_it_did_not_solve(batch, student):
    attack = _attack(batch, student)
    result = batch.results[student]
    scores = {c.grade_id: c.score for c in result.cells}
    expected = {gid: (pts if gid in attack.solves else 0.0) for gid, pts in corpus.POINTS.items()}
    assert scores == expected, f"{attack.attacks}: {result.message}"
    assert result.max_score == corpus.MAX_SCORE       # points come from the gradebook, never the notebook
    assert result.status.value in attack.statuses, result.message


@pytest.mark.parametrize("student", ATTACKS)
def test_attack_sees_nothing_secret(batch, student):
    result = batch.results[student]
    breaches = [line for out in result.outputs for line in out.stdout.splitlines()
                if corpus.BREACH in line]
    assert breaches == [], _attack(batch, student).attacks
    text = _shown_text(result)
    leaked = [m for m in (*corpus.HIDDEN_MARKERS, batch.target.secret) if m in text]
    assert leaked == []


@pytest.mark.parametrize("student", ATTACKS)
def test_attack_result_is_a_clean_verdict(batch, student):
    # an attack may crash or stall its own kernel, never the trusted side: no engine exception
    # surfaces as the message, and `failed` is kept for notebooks that cannot be read at all
    result = batch.results[student]
    assert result.status.value != "failed", result.message
    assert "grading stopped early" not in result.message
    assert "sandbox could not be set up" not in result.message   # the sandbox was fine: the student broke the kernel
    assert not re.search(r"\b[A-Z]\w+Error\b", result.message), result.message


@pytest.mark.parametrize("student", FLAGGED)
def test_attack_is_flagged_with_what_was_seen(batch, student):
    attack = _attack(batch, student)
    flag = batch.results[student].flags.get("attack", "")
    assert any(word in flag for word in attack.flag_words), f"{attack.attacks}: flags {batch.results[student].flags}"


def test_tampering_is_flagged_as_tampered(batch):
    for attack in batch.attacks:
        if attack.tampered:
            flag = batch.results[attack.student].flags.get("tampered", "")
            assert "test_tensor" in flag and "test_count" in flag and "test_answer" in flag, flag
