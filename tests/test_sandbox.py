"""What student code can see and do inside the sandbox, observed from its own printed output.

Each submission below prints facts about its environment from an answer cell;
the record keeps the cell's captured stdout, which the assertions read.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, build_course, copy_course, released, submit, with_answers
from test_grade_batch import GOOD

from autograder.grade import grade_batch
from coursebase.layout import Course
from coursebase.policy import Limits

pytestmark = pytest.mark.slow

def probe(code: str) -> dict:
    """Answers with ``code`` placed (and printing) before the correct double()."""
    return {**GOOD, "double_answer": code + "\n" + GOOD["double_answer"]}


PROBE = r'''
import os, json, socket, sys
facts = {"uid": os.getuid(), "pid": os.getpid(), "cwd": os.getcwd(), "root": sorted(os.listdir("/")),
         "course_visible": os.path.exists(COURSE), "home": sorted(os.listdir(".")),
         "repo_visible": os.path.exists(REPO + "/source"),
         "env": os.environ.get("NBGRADER_EXECUTION"), "env_keys": sorted(os.environ),
         "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
def attempt(name, fn):
    try:
        fn()
        facts[name] = "allowed"
    except Exception as exc:
        facts[name] = type(exc).__name__
attempt("read_gradebook", lambda: open(COURSE + "/gradebook.db", "rb").read(1))
attempt("read_source", lambda: open(COURSE + "/source/ps2/ps2.ipynb").read(1))
attempt("read_relative", lambda: open("../../../source/ps2/ps2.ipynb").read(1))
attempt("write_etc", lambda: open("/etc/owned", "w").write("x"))
attempt("write_site_packages", lambda: open(os.path.dirname(os.__file__) + "/owned.py", "w").write("x"))
attempt("network", lambda: socket.create_connection(("1.1.1.1", 80), timeout=2))
attempt("write_cwd", lambda: open("mine.txt", "w").write("x"))
attempt("write_tmp", lambda: open("/tmp/mine.txt", "w").write("x"))
attempt("big_file", lambda: open("big.bin", "wb").write(b"x" * (40 << 20)))
attempt("fill_disk", lambda: [open(f"fill{i}.bin", "wb").write(b"x" * (10 << 20)) for i in range(20)])
attempt("signal_parent", lambda: os.kill(os.getppid() or 1, 0) if os.getppid() else (_ for _ in ()).throw(ProcessLookupError()))
print("FACTS" + json.dumps(facts))
'''

STATE_WRITER = r'''
import os, torch, builtins
torch.ones = None
GLOBAL_FROM_A = 1
os.environ["LEAK"] = "yes"
open("leftover.txt", "w").write("x")
open("/tmp/leftover.txt", "w").write("x")
os.chdir("/tmp")
import subprocess
subprocess.Popen(["sleep", "300"], start_new_session=True)
print("WROTE")
builtins.abs = lambda x: 42
'''

STATE_READER = r'''
import os, torch, json
print("STATE" + json.dumps({"torch_ones": torch.ones is not None, "abs": abs(-2),
      "global": "GLOBAL_FROM_A" in globals(), "env": os.environ.get("LEAK"),
      "cwd_file": os.path.exists("leftover.txt"), "tmp_file": os.path.exists("/tmp/leftover.txt"),
      "cwd": os.getcwd()}))
'''

RNG = r'''
import random, numpy as np, torch, json
print("RNG" + json.dumps({"torch": torch.rand(3).tolist(), "numpy": np.random.rand(2).tolist(),
                          "random": random.random(), "threads": torch.get_num_threads()}))
big = torch.randn(512, 512)
print("MATMUL", float((big @ big).sum()) != 0.0)
'''

OUTPUTS = r'''
import torchvision, sklearn.metrics  # not pre-imported: must load from the read-only site-packages
print("late-import", torchvision.__name__, sklearn.metrics.__name__)
import ctypes, os, sys
from IPython.display import display
ctypes.CDLL(None).printf(b"c-level-print\n")
ctypes.CDLL(None).fflush(None)
os.system("echo shell-print")
print("to-stderr", file=sys.stderr)
display("shown-by-display")
import matplotlib.pyplot as plt
plt.plot([1, 2, 3])
'''


@pytest.fixture(scope="module")
def sandbox_batch(tmp_path_factory):
    template = build_course(tmp_path_factory.mktemp("sbx") / "course", {"ps2": FIXTURES / "engine" / "ps2.ipynb"})
    course = copy_course(template, tmp_path_factory.mktemp("sbx2") / "course")
    nb = released(course, "ps2")
    probe_code = f"COURSE = {str(course)!r}\nREPO = {str(ROOT)!r}\n" + PROBE
    subs = {
        "a_probe": probe(probe_code),
        "b_state_writer": probe(STATE_WRITER),
        "c_state_reader": probe(STATE_READER),
        "d_rng_1": probe(RNG),
        "e_rng_2": probe(RNG),
        "f_outputs": probe(OUTPUTS),
    }
    for student, answers in subs.items():
        submit(course, student, "ps2", with_answers(nb, answers))
    # one worker: every submission is forked from the same warm parent, one after another
    summary = grade_batch(Course.at(course), "ps2", workers=1, quiet=True)
    return course, {r.student_id: r for r in summary.graded}


def _printed(result, marker: str):
    for out in result.outputs:
        for line in out.stdout.splitlines():
            if line.startswith(marker):
                return json.loads(line[len(marker):]) if line[len(marker):].startswith("{") else line
    raise AssertionError(f"{marker} not printed: {[o.stdout for o in result.outputs]}")


def test_student_code_cannot_read_the_course_or_write_outside_its_folder(sandbox_batch):
    _, results = sandbox_batch
    facts = _printed(results["a_probe"], "FACTS")
    assert facts["course_visible"] is False
    assert facts["repo_visible"] is False  # this checkout's source/ (solutions, hidden tests) neither
    for name in ("read_gradebook", "read_source", "read_relative"):
        assert facts[name] in ("FileNotFoundError", "PermissionError"), (name, facts[name])
    assert facts["write_etc"] == "OSError" or facts["write_etc"] in ("PermissionError", "FileNotFoundError")
    assert facts["write_site_packages"] != "allowed"
    assert facts["write_cwd"] == "allowed" and facts["write_tmp"] == "allowed"
    assert facts["uid"] >= 200_000
    assert facts["home"] == []
    assert results["a_probe"].score == 8.0  # probing is not penalised; only the tests decide


def test_no_network_and_no_other_processes_visible(sandbox_batch):
    _, results = sandbox_batch
    facts = _printed(results["a_probe"], "FACTS")
    assert facts["network"] == "OSError"
    assert facts["pid"] == 1 and facts["pids"] == [1]
    assert facts["signal_parent"] != "allowed"


def test_file_size_and_disk_are_limited(sandbox_batch):
    _, results = sandbox_batch
    facts = _printed(results["a_probe"], "FACTS")
    assert facts["big_file"] == "OSError"       # over file_size_mb (16 MB in the test policy)
    assert facts["fill_disk"] == "OSError"      # over disk_mb (64 MB)


def test_grading_mode_is_visible_and_environment_is_clean(sandbox_batch):
    _, results = sandbox_batch
    facts = _printed(results["a_probe"], "FACTS")
    assert facts["env"] == "autograde"
    assert not any("TOKEN" in k or "SECRET" in k or k.startswith("PYTEST") for k in facts["env_keys"])
    assert facts["cwd"] == "/home/student"


def test_each_submission_starts_clean(sandbox_batch):
    _, results = sandbox_batch
    assert "WROTE" in "".join(o.stdout for o in results["b_state_writer"].outputs)
    state = _printed(results["c_state_reader"], "STATE")
    assert state == {"torch_ones": True, "abs": 2, "global": False, "env": None, "cwd_file": False,
                     "tmp_file": False, "cwd": "/home/student"}


def _sleepers() -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd[:2] == [b"sleep", b"300"]:
            found.append(pid)
    return found


def test_background_process_does_not_outlive_the_kernel(sandbox_batch):
    # The sandbox's PID namespace is torn down with its kernel; on a busy machine the killed process
    # may take a moment to be scheduled and die. A survivor is one still there long after (it sleeps
    # 300 s): the check waits up to 60 s, far from both.
    import time

    deadline = time.monotonic() + 60
    while _sleepers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _sleepers(), f"process {_sleepers()} survived its sandbox"


def test_every_submission_is_seeded_from_the_course_seed(sandbox_batch):
    import numpy as np
    import torch

    _, results = sandbox_batch
    one, two = _printed(results["d_rng_1"], "RNG"), _printed(results["e_rng_2"], "RNG")
    assert one == two
    torch.manual_seed(1234)
    np.random.seed(1234)
    random.seed(1234)
    assert one["torch"] == torch.rand(3).tolist()
    assert one["numpy"] == np.random.rand(2).tolist()
    assert one["random"] == random.random()


def test_threads_are_pinned_and_parallel_ops_do_not_hang(sandbox_batch):
    _, results = sandbox_batch
    assert _printed(results["d_rng_1"], "RNG")["threads"] == 1
    assert _printed(results["d_rng_1"], "MATMUL") == "MATMUL True"


def test_output_is_captured_at_the_file_descriptor_level(sandbox_batch):
    _, results = sandbox_batch
    result = results["f_outputs"]
    stdout = "".join(o.stdout for o in result.outputs)
    assert "c-level-print" in stdout and "shell-print" in stdout
    assert "late-import torchvision sklearn.metrics" in stdout
    assert "to-stderr" in "".join(o.stderr for o in result.outputs)
    rich = [r for o in result.outputs for r in o.results]
    assert any("shown-by-display" in r.get("text/plain", "") for r in rich)
    assert any("image/png" in r for r in rich)
    assert result.score == 8.0


def test_a_folder_holding_a_course_is_never_bound_even_from_sys_path(tmp_path):
    """If a checkout of this repository (a course: source/ + nbgrader_config.py) or its parent were on
    sys.path, binding it would show the solutions to student code."""
    from autograder.engine import sandbox

    parent = tmp_path / "work"
    course = parent / "course"
    (course / "source").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    (parent / "venvlike").mkdir()
    spec = sandbox.SandboxSpec(uid=1, limits=Limits(), readable=[str(course), str(parent), str(parent / "venvlike")])
    binds = sandbox._system_binds(spec)
    assert str(course) not in binds and str(parent) not in binds
    assert str(parent / "venvlike") in binds  # an ordinary folder is still allowed
