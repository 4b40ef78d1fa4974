"""The trusted side's boundary: what the judge can see, the files it is handed, what grading leaves behind.

One real course whose assignment has the homework's "write this file" question
(``write_submission``, the same test pattern as 04_mlp_fashion_mnist) and a test
cell that reports what the judge process itself can see. Hostile students make
the output path a link to a host canary file, a link to the kit, a FIFO, a link
to /dev/zero, or fill the exchange folder; all are graded in one real batch
(real sandbox, real kernels) beside an honest student.
"""
from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from conftest import build_course, released, submit, with_answers

from autograder.engine import handover, sandbox
from autograder.grade import grade_batch, make_job
from autograder.kits import build_kit, kit_path
from coursebase.layout import Course
from coursebase.policy import Limits, load_policy
from coursebase.vocabulary import Flag, Status

SECRET = "CANARY-7f3a-do-not-leak"

SETUP = "import os\nimport tempfile\nimport numpy as np\nimport pandas as pd"
SOLUTION = '''def write_submission(ids, predictions, path):
    """Write `Id,Category` rows to `path`; returns `path` as a string."""
    ### BEGIN SOLUTION
    pd.DataFrame({"Id": np.asarray(ids), "Category": np.asarray(predictions)}).to_csv(path, index=False)
    return str(path)
    ### END SOLUTION'''
# the homework's own test pattern: a temporary folder from the judge, a path in it, read back
TEST_WRITE = '''import os
import shutil
import tempfile
import pandas as pd

_folder = tempfile.mkdtemp()
try:
    _path = os.path.join(_folder, "submission.csv")
    write_submission([5, 3, 9], [1, 0, 7], _path)
    _frame = pd.read_csv(_path)
    assert list(_frame.columns) == ["Id", "Category"], f"columns: {list(_frame.columns)}"
    ### BEGIN HIDDEN TESTS
    with open(_path, encoding="utf-8") as _fh:
        _lines = _fh.read().splitlines()
    assert _lines == ["Id,Category", "5,1", "3,0", "9,7"], f"lines: {_lines}"
    ### END HIDDEN TESTS
finally:
    shutil.rmtree(_folder, ignore_errors=True)'''
# a test cell that reports what the judge process itself can see (always fails, with the facts)
TEST_PROBE = '''import os, json
def _can_read(p):
    try:
        with open(p, "rb") as fh:
            fh.read(1)
        return True
    except OSError:
        return False
import tempfile
_facts = {"euid": os.geteuid(), "uid": os.getuid(), "root": sorted(os.listdir("/")),
          "course": os.path.exists(COURSE_DIR),
          "root_home": sorted(os.listdir("/root")) if os.path.isdir("/root") else None,
          "home": os.listdir("/home") if os.path.isdir("/home") else None,
          "host_tmp": os.path.exists(HOST_TMP), "canary": _can_read(CANARY), "shadow": _can_read("/etc/shadow"),
          "exchange": tempfile.gettempdir()}
assert False, "FACTS" + json.dumps(_facts) + "END"'''

HONEST = SOLUTION.replace("    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", "")


def attack(body: str) -> str:
    return f"import os\ndef write_submission(ids, predictions, path):\n{body}\n    return str(path)"


def _notebook(course_dir: Path, canary: Path) -> nbformat.NotebookNode:
    def code(source, grade_id, *, grade=False, solution=False, locked=False, points=None):
        meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
        if points is not None:
            meta["points"] = points
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})

    probe = (f"COURSE_DIR = {str(course_dir)!r}\nHOST_TMP = {tempfile.gettempdir()!r}\n"
             f"CANARY = {str(canary)!r}\n" + TEST_PROBE)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Hand-over fixture"),
        code(SETUP, "setup", locked=True),
        code(SOLUTION, "write_answer", solution=True),
        code(TEST_WRITE, "test_write", grade=True, locked=True, points=2),
        code(probe, "test_probe", grade=True, locked=True, points=1),
    ]
    return nb


@pytest.fixture(scope="module")
def boundary(tmp_path_factory):
    base = tmp_path_factory.mktemp("boundary")
    course_dir = base / "course"
    canary = base / "canary.txt"
    canary.write_text(SECRET * 4 + "\n")
    source = base / "hw.ipynb"
    nbformat.write(_notebook(course_dir, canary), source)
    course = build_course(course_dir, {"hw": source})
    kit_file = kit_path(Course.at(course), "hw")
    nb = released(course, "hw")
    subs = {
        "honest": HONEST,
        "link_canary": attack(f"    os.symlink({str(canary)!r}, path)"),
        "link_kit": attack(f"    os.symlink({str(kit_file)!r}, path)"),
        "link_zero": attack("    os.symlink('/dev/zero', path)"),
        "fifo": attack("    os.mkfifo(path)"),
        "fill": attack("    d = os.path.dirname(path)\n    i = 0\n    while True:\n"
                       "        with open(os.path.join(d, f'fill{i}'), 'wb') as fh:\n"
                       "            for _ in range(15):\n                fh.write(b'x' * (1 << 20))\n"
                       "        i += 1"),
    }
    for student, answer in subs.items():
        submit(course, student, "hw", with_answers(nb, {"write_answer": answer}))
    # atime older than mtime: any read of the canary (even under relatime) would move its atime
    st = canary.stat()
    os.utime(canary, ns=(st.st_mtime_ns - 3600 * 10**9, st.st_mtime_ns))
    before = canary.stat().st_atime_ns
    summary = grade_batch(Course.at(course), "hw", workers=2, quiet=True)
    records = {r.student_id: r for r in summary.graded}
    return course, canary, before, records


def _cell(record, grade_id):
    return next(c for c in record.cells if c.grade_id == grade_id)


def _everything(course: Path, record) -> str:
    """All the text grading kept about a submission: the record and the records file."""
    return record.dumps() + (course / ".autograder" / "records.jsonl").read_text()


@pytest.mark.slow  # a real grading batch (kernels, fork server)
@pytest.mark.skipif(os.geteuid() != 0, reason="the judge is confined when grading runs as root")
def test_the_judge_sees_no_course_no_host_secrets_and_is_not_root(boundary):
    course, canary, _, records = boundary
    error = _cell(records["honest"], "test_probe").error
    facts = json.loads(error.split("FACTS", 1)[1].split("END", 1)[0])
    assert facts["euid"] >= sandbox.SANDBOX_UID_BASE + sandbox.JUDGE_UID_OFFSET  # its own uid, not a kernel's
    assert facts["uid"] != 0 and facts["euid"] != facts["uid"]
    assert facts["course"] is False
    assert facts["home"] is None and facts["host_tmp"] is False
    assert facts["canary"] is False and facts["shadow"] is False
    assert facts["exchange"] == sandbox.EXCHANGE
    # only the system folders and the Python installation (e.g. /root/.pyenv/...: then /root holds just that)
    binds = sandbox._system_binds(sandbox.SandboxSpec(uid=0, limits=Limits(), hide=[str(course)]))
    allowed = {b.split("/")[1] for b in binds} | {"dev", "exchange", "given", "proc", "bin", "sbin", "lib", "lib64", "lib32"}
    assert set(facts["root"]) <= allowed, facts["root"]
    if facts["root_home"] is not None:
        assert facts["root_home"] == sorted({b.split("/")[2] for b in binds if b.startswith("/root/")})


@pytest.mark.slow  # a real grading batch (kernels, fork server)
def test_an_honest_write_this_file_test_still_passes(boundary):
    _, _, _, records = boundary
    honest = records["honest"]
    assert honest.status == Status.GRADED
    assert _cell(honest, "test_write").score == 2.0
    assert Flag.ATTACK not in honest.flags


@pytest.mark.parametrize("student, what", [
    ("link_canary", "is a symbolic link; the grader reads only regular files your code wrote"),
    ("link_kit", "is a symbolic link; the grader reads only regular files your code wrote"),
    ("link_zero", "is a symbolic link; the grader reads only regular files your code wrote"),
    ("fifo", "is a named pipe (FIFO); the grader reads only regular files your code wrote"),
])
@pytest.mark.slow  # a real grading batch (kernels, fork server)
def test_a_planted_path_fails_the_test_with_a_plain_message_and_the_attack_flag(boundary, student, what):
    course, _, _, records = boundary
    record = records[student]
    cell = _cell(record, "test_write")
    assert cell.score == 0.0
    assert cell.error.endswith("/submission.csv " + what), cell.error
    assert cell.error.startswith(sandbox.EXCHANGE + "/") or os.geteuid() != 0
    assert what in record.flags[Flag.ATTACK]
    # the judge and the batch went on (the visible test, run again in the student's own kernel, may block
    # there on the student's own FIFO until the cell limit: that is a timeout of the student's making)
    assert record.status in (Status.GRADED, Status.TIMEOUT)
    assert _cell(record, "test_probe").ran


@pytest.mark.slow  # a real grading batch (kernels, fork server)
def test_a_link_to_a_host_file_reads_nothing_of_it(boundary):
    course, canary, atime_before, records = boundary
    assert canary.stat().st_atime_ns == atime_before  # nobody opened it, not even to check
    for record in records.values():
        assert SECRET not in _everything(course, record)


@pytest.mark.slow  # a real grading batch (kernels, fork server)
def test_a_link_to_the_kit_leaks_no_hidden_test(boundary):
    course, _, _, records = boundary
    text = _everything(course, records["link_kit"])
    assert "BEGIN HIDDEN TESTS" not in text and '"cells"' not in records["link_kit"].cells[0].error


@pytest.mark.slow  # a real grading batch (kernels, fork server)
def test_a_fifo_does_not_hold_the_worker(boundary):
    course, _, _, records = boundary
    policy = load_policy(course)
    # before: the judge blocked on the FIFO until the hard kill at notebook_timeout + 60 s
    assert records["fifo"].duration < policy.limits.notebook_timeout
    assert records["fifo"].status in (Status.GRADED, Status.TIMEOUT)


@pytest.mark.slow  # a real grading batch (kernels, fork server)
def test_filling_the_exchange_folder_stops_at_disk_mb(boundary):
    course, _, _, records = boundary
    record = records["fill"]
    assert _cell(record, "test_write").score == 0.0
    assert "No space left on device" in _cell(record, "test_write").error or \
        "File too large" in _cell(record, "test_write").error
    assert "filled its private disk" in record.flags[Flag.ATTACK]


# ------------------------------------------------------------------ the check itself, without kernels

def test_check_accepts_regular_files_and_folders_and_new_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "ok.csv").write_text("Id,Category\n")
    handover.check(str(tmp_path / "d" / "ok.csv"), str(tmp_path), cap=1 << 20)
    handover.check(str(tmp_path / "d"), str(tmp_path), cap=1 << 20)
    handover.check(str(tmp_path / "d" / "new.csv"), str(tmp_path), cap=1 << 20, creating=True)
    handover.check("/etc/hostname", str(tmp_path), cap=1)  # outside the folder: not its business


def test_check_refuses_a_link_in_any_component(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("x")
    root = tmp_path / "ex"
    root.mkdir()
    (root / "sub").symlink_to(outside)
    with pytest.raises(handover.UnsafeFile, match=r"/ex/sub is a symbolic link"):
        handover.check(str(root / "sub" / "secret.txt"), str(root), cap=1 << 20)
    (root / "last.csv").symlink_to(outside / "secret.txt")
    with pytest.raises(handover.UnsafeFile, match=r"/ex/last.csv is a symbolic link; the grader reads only"):
        handover.check(str(root / "last.csv"), str(root), cap=1 << 20)
    with pytest.raises(handover.UnsafeFile, match=r"goes up a folder"):
        handover.check(str(root) + "/../outside/secret.txt", str(root), cap=1 << 20)


def test_check_refuses_a_fifo_at_once_and_an_oversize_file(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    done = threading.Event()

    def run():
        with pytest.raises(handover.UnsafeFile, match="is a named pipe"):
            handover.check(str(tmp_path / "pipe"), str(tmp_path), cap=1 << 20)
        done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert done.is_set()  # never blocked waiting for a writer
    (tmp_path / "big").write_bytes(b"x" * 4096)
    with pytest.raises(handover.UnsafeFile, match="is larger"):
        handover.check(str(tmp_path / "big"), str(tmp_path), cap=1024)


def test_the_guard_applies_to_any_reader_and_keeps_what_it_refused(tmp_path):
    pd = pytest.importorskip("pandas")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    guard = handover.Guard(str(tmp_path), cap=1 << 20)
    with guard.active():
        with pytest.raises(handover.UnsafeFile):
            pd.read_csv(tmp_path / "zero.csv")
        with pytest.raises(handover.UnsafeFile):
            os.open(tmp_path / "zero.csv", os.O_RDONLY)
    assert len(guard.refused) == 2 and "zero.csv is a symbolic link" in guard.refused[0]
    with open(tmp_path / "zero.csv", "rb") as fh:  # no guard active: nothing is changed for others
        assert fh.read(4) == b"\0" * 4


def test_the_wall_clock_deadline_interrupts_a_blocking_open(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(handover.JudgeDeadline):
        with handover.wall_clock(0.5):
            open(tmp_path / "pipe", "rb")  # no writer: would block forever


# ------------------------------------------------------------------ nothing is left behind

SPIN = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"


def _uids_alive(uids: set[int]) -> list[int]:
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            line = next((text for text in status.splitlines() if text.startswith("Uid:")), "")
            if uids & {int(x) for x in line.split()[1:]}:
                alive.append(int(entry))
    return alive


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A fresh, empty temp folder that everything started from this test uses as "the" /tmp."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


@pytest.mark.slow  # a real grading batch (kernels, fork server)
def test_a_grade_run_leaves_nothing_in_tmp(tmp_path, private_tmp):
    from conftest import FIXTURES
    from test_grade_batch import GOOD

    course = build_course(tmp_path / "course", {"ps2": FIXTURES / "engine" / "ps2.ipynb"})
    nb = released(course, "ps2")
    submit(course, "good", "ps2", with_answers(nb, GOOD))
    submit(course, "killed", "ps2", with_answers(nb, {**GOOD, "value_answer": SPIN}))  # ignores SIGINT: killed
    submit(course, "fill", "ps2", with_answers(nb, {**GOOD, "value_answer":
           "for i in range(100):\n    open(f'/tmp/f{i}', 'wb').write(b'x' * (15 << 20))"}))
    assert os.listdir(private_tmp) == []
    summary = grade_batch(Course.at(course), "ps2", workers=2, quiet=True, timeout=20)
    records = {r.student_id: r for r in summary.graded}
    assert records["good"].score == 8.0
    assert records["killed"].status == Status.TIMEOUT
    assert "filled its private disk" in records["fill"].flags[Flag.ATTACK]
    assert os.listdir(private_tmp) == []  # no autograder-mpl-*, -ipython-*, scratch, exchange, ...
    assert not (course / ".autograder" / "spool").exists() or not any((course / ".autograder" / "spool").rglob("*"))


@pytest.mark.slow  # a real grading batch (kernels, fork server)
@pytest.mark.skipif(os.geteuid() != 0, reason="the private disk is mounted when grading runs as root")
def test_a_hard_killed_executor_leaves_no_process_and_no_file(tmp_path, private_tmp):
    from conftest import FIXTURES
    from test_grade_batch import GOOD

    from autograder.engine.forkserver import ForkServer, collect_result

    course = build_course(tmp_path / "course", {"ps2": FIXTURES / "engine" / "ps2.ipynb"})
    nb = released(course, "ps2")
    # the kernel fills its disk, then spins: the executor is killed while the kernel still runs
    spin_full = ("for i in range(3):\n    open(f'/tmp/f{i}', 'wb').write(b'x' * (10 << 20))\n"
                 "open('/tmp/started', 'w').close()\n" + SPIN)
    submit(course, "victim", "ps2", with_answers(nb, {**GOOD, "value_answer": spin_full}))
    c = Course.at(course)
    policy = load_policy(course)
    kit = build_kit(c, "ps2")
    kit_file = kit.save(kit_path(c, "ps2"))
    spool = tmp_path / "spool"
    spool.mkdir()
    from autograder.grade import find_submissions

    sub = find_submissions(c, "ps2", None)[0]
    job = make_job(c, policy, kit, kit_file, sub, spool, True, 60.0)
    # a run whose client and server were killed together (kill -9 of the group) left its folder behind
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = private_tmp / "autograder-server-stale"
    (stale / "jobs" / "1").mkdir(parents=True)
    (stale / "owner").write_text(str(dead.pid))
    server = ForkServer(list(policy.sandbox.preimport), policy.grading_seed)
    try:
        assert not stale.exists()  # the next run removes it
        scratch = Path(server.scratch)
        assert scratch.parent == private_tmp
        kernel_uid = job.uid + (server.proc.pid % 400) * 200  # slot 0, as the server assigns it
        uids = {kernel_uid, kernel_uid + sandbox.JUDGE_UID_OFFSET}
        codes = []
        runner = threading.Thread(target=lambda: codes.append(server.run(job)))
        runner.start()
        deadline = time.monotonic() + 120
        executor = None
        while time.monotonic() < deadline and executor is None:
            children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()
            if children and _uids_alive({kernel_uid}) and Path(job.result_path + ".cells").exists() \
                    and Path(job.result_path + ".cells").read_text():
                executor = int(children[0])  # a test cell was judged: the kernel is in the spin cell next
            time.sleep(0.2)
        assert executor is not None, "the submission never started"
        time.sleep(1.0)
        os.kill(executor, signal.SIGKILL)
        runner.join(120)
        assert codes == [-9]
        result = collect_result(job, codes[0])
        assert result.status == Status.TIMEOUT and result.cells  # the cells judged before the kill are kept
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (_uids_alive(uids) or any((scratch / "jobs").iterdir())):
            time.sleep(0.2)
        assert _uids_alive(uids) == []  # the kernel went with its executor
        assert list((scratch / "jobs").iterdir()) == []  # its folder removed by the server that killed it
        assert not Path(job.result_path + ".tmp").exists()
    finally:
        server.close()
    assert os.listdir(private_tmp) == []


@pytest.mark.slow  # a real grading batch (kernels, fork server)
def test_unsandboxed_grading_still_checks_the_files_a_test_reads(boundary, tmp_path):
    """--unsandboxed (limits only): the judge is not confined, but the hand-over check still holds."""
    from autograder.engine.forkserver import ForkServer, collect_result
    from autograder.grade import find_submissions

    course, _, _, _ = boundary
    c = Course.at(course)
    policy = load_policy(course)
    kit = build_kit(c, "hw")
    kit_file = kit.save(kit_path(c, "hw"))
    subs = {s.student_id: s for s in find_submissions(c, "hw", ["honest", "fifo"])}
    server = ForkServer(list(policy.sandbox.preimport), policy.grading_seed)
    try:
        results = {}
        for student, sub in subs.items():
            job = make_job(c, policy, kit, kit_file, sub, tmp_path, False, None)
            results[student] = collect_result(job, server.run(job))
    finally:
        server.close()
    assert results["honest"].sandbox == "none"
    assert _cell(results["honest"], "test_write").score == 2.0
    fifo = _cell(results["fifo"], "test_write")
    assert fifo.score == 0.0 and fifo.error.endswith("/submission.csv is a named pipe (FIFO); "
                                                     "the grader reads only regular files your code wrote")
    assert "is a named pipe" in results["fifo"].flags[Flag.ATTACK]
    assert results["fifo"].duration < policy.limits.notebook_timeout
