"""Hostile kernels against the wire and the audit, graded in one batch with an honest student after them.

* Reply bombs: a student function writes its own reply frame on the kernel's
  socket (the protocol module is importable in the sandbox): ~60 MB of
  ``[{},{},...]`` that would expand ~30x, and a small frame that references one
  1 MB buffer thousands of times. Each ends that kernel (``crashed``, ``attack``
  saying which bound); the executor writes its record; the next submission in
  the same batch grades normally.
* A silenced audit: a student switches the old module-global off, cuts the audit
  pipe, or rewrites the hook's closure, then tries the network and a course
  path. The ``attack`` flag still says so (the hook's silence is checked, the
  network is counted from outside the sandbox).
* Forged audit lines add no words of the student's choosing, and the honest
  student gets no flag at all.
"""
from __future__ import annotations

import textwrap

import pytest
from conftest import FIXTURES, build_course, copy_course, released, submit, with_answers
from test_grade_batch import GOOD

from autograder.grade import grade_batch
from coursebase.layout import Course
from coursebase.vocabulary import Flag, Status

pytestmark = pytest.mark.slow


def before_double(code: str) -> dict:
    """The good answers, with ``code`` run in the cell that defines double()."""
    return {**GOOD, "double_answer": code + "\n" + GOOD["double_answer"]}


def bomb_in_double(frame_expr: str, tail_expr: str = "b''") -> dict:
    """double() writes a frame (header ``frame_expr``, then ``tail_expr``) on the control socket, as if it were the reply."""
    return {**GOOD, "double_answer": textwrap.dedent(f"""
        import os, stat, struct
        def double(x):
            raw, tail = {frame_expr}, {tail_expr}
            for fd in range(3, 256):
                try:
                    if stat.S_ISSOCK(os.fstat(fd).st_mode):
                        os.write(fd, struct.pack('>I', len(raw)) + raw + tail)
                except OSError:
                    pass
            return 2 * x
        """)}


TRY_THINGS = """
try:
    __import__("soc" + "ket").create_connection(("10.1.2.3", 80), timeout=1)
except OSError:
    pass
try:
    open("/home/" + "grader/course/gradebook.db")
except OSError:
    pass
"""

SUBMISSIONS = {
    "a_bomb_objects": bomb_in_double(
        "b'{\"op\":\"value\",\"value\":[' + b'{},' * 20_000_000 + b'{}]}'"),
    "c_audit_global_off": before_double(textwrap.dedent("""
        import autograder.engine.kernel as k
        k._quiet = True
        k._AUDIT_EVENTS = {}
        """) + TRY_THINGS),
    "d_audit_pipe_cut": before_double(textwrap.dedent("""
        import os, stat
        for fd in range(3, 256):
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    os.close(fd)
            except OSError:
                pass
        """) + TRY_THINGS),
    "e_audit_closure_rewritten": before_double(textwrap.dedent("""
        gc = __import__("gc")
        for f in getattr(gc, "get_" + "objects")():
            if type(f).__name__ == "function" and f.__name__ == "hook" and f.__module__ == "autograder.engine.kernel":
                for cell in f.__closure__ or ():
                    if isinstance(cell.cell_contents, frozenset):
                        cell.cell_contents = frozenset()
                    elif isinstance(cell.cell_contents, tuple):
                        cell.cell_contents = ("/",)
        """) + TRY_THINGS),
    "f_forged_events": before_double(textwrap.dedent("""
        import os, stat
        for fd in range(3, 256):
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    os.write(fd, b'{"event": "socket.connect", "what": "HACKED-WORDS", "detail": "x"}\\n'
                                 b'{"event": "made.up", "what": "MADE-UP", "detail": "y"}\\n'
                                 b'{"event": "check", "detail": "guessed-nonce"}\\n')
            except OSError:
                pass
        """)),
    "z_honest": GOOD,
}
# the buffer-reference bomb: 3000 references to one 1 MB buffer would rebuild as 3 GB of bytes
SUBMISSIONS["b_bomb_buffer_refs"] = bomb_in_double(
    "b'{\"op\":\"value\",\"value\":{\"$\":\"list\",\"v\":[' + b','.join([b'{\"$\":\"bytes\",\"b\":0}'] * 3000)"
    " + b']},\"buffers\":[1048576]}'", "b'x' * 1048576")


@pytest.fixture(scope="module")
def wire_batch(tmp_path_factory):
    template = build_course(tmp_path_factory.mktemp("wire") / "course", {"ps2": FIXTURES / "engine" / "ps2.ipynb"})
    course = copy_course(template, tmp_path_factory.mktemp("wire2") / "course")
    nb = released(course, "ps2")
    for student, answers in SUBMISSIONS.items():
        submit(course, student, "ps2", with_answers(nb, answers))
    # one worker: the honest student is graded after the bombs, by the same warm parent
    summary = grade_batch(Course.at(course), "ps2", workers=1, quiet=True)
    return {r.student_id: r for r in summary.graded}


def _attack(result) -> str:
    return result.flags.get(Flag.ATTACK.value, "")


@pytest.mark.parametrize("student, bound", [("a_bomb_objects", "memory"), ("b_bomb_buffer_refs", "memory")])
def test_reply_bomb_ends_that_kernel_with_crashed_and_attack(wire_batch, student, bound):
    result = wire_batch[student]
    assert result.status == Status.CRASHED, (result.status, result.message)
    attack = _attack(result)
    assert "grading protocol" in attack and f"{bound}:" in attack, attack
    cells = {c.grade_id: c.score for c in result.cells}
    assert cells["test_double"] == 0.0
    assert result.score == 0.0


def test_the_next_submission_in_the_batch_grades_normally(wire_batch):
    honest = wire_batch["z_honest"]
    assert honest.status == Status.GRADED
    assert honest.score == 8.0
    assert Flag.ATTACK.value not in honest.flags, honest.flags


@pytest.mark.parametrize("student", ["c_audit_global_off", "d_audit_pipe_cut", "e_audit_closure_rewritten"])
def test_a_silenced_audit_still_gives_the_attack_flag(wire_batch, student):
    result = wire_batch[student]
    errors = [o.error for o in result.outputs if o.error]
    assert result.status == Status.GRADED and result.score == 8.0, errors  # a flag informs; it changes no score
    attack = _attack(result)
    assert "tried to use the network (seen from outside)" in attack, attack


def test_what_each_silencing_looks_like(wire_batch):
    # the old module global is gone: the hook keeps reporting
    assert "opened a network connection" in _attack(wire_batch["c_audit_global_off"])
    assert "tried to open a course file" in _attack(wire_batch["c_audit_global_off"])
    # a cut pipe cannot answer the executor's nonce
    assert "switched off or cut the grader's audit hook" in _attack(wire_batch["d_audit_pipe_cut"])
    # a rewritten closure did silence the hook: only the view from outside the sandbox tells
    rewritten = _attack(wire_batch["e_audit_closure_rewritten"])
    assert "opened a network connection" not in rewritten and "tried to open a course file" not in rewritten
    assert "tried to use the network (seen from outside)" in rewritten


def test_forged_audit_lines_add_no_words_of_the_students_choosing(wire_batch):
    result = wire_batch["f_forged_events"]
    attack = _attack(result)
    assert "opened a network connection (x)" in attack  # a known event name: reported, in the grader's words
    assert "HACKED-WORDS" not in attack and "MADE-UP" not in attack and "made.up" not in attack
    assert "switched off" not in attack  # a guessed nonce is not the one asked for; the real hook answered
    assert result.score == 8.0
