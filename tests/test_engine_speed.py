"""Issue 15, per-submission speed: the shortcuts keep exactly the behaviour they replace.

Fast tier: no kernel, no sandbox (the end-to-end behaviour is covered by the
security and parity suites, which run unchanged). No timings are asserted.
"""
from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from autograder.engine import forkserver, judge, kernel


def _python_words(code: str, env: dict | None = None) -> list[str]:
    """What ``python -c code`` prints, split into words: a fresh interpreter, as a forked child or the
    warm parent starts (this test process has run other tests)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()


@pytest.mark.parametrize("seed", [0, 2026, 2**32 - 1])
def test_kernel_and_judge_seeding_leave_torch_exactly_as_manual_seed_does(seed):
    torch.manual_seed(seed)
    expected_state = torch.get_rng_state()
    expected = torch.rand(5)
    for seed_everything in (kernel._seed, judge.seed_all):
        torch.manual_seed(seed + 1)   # anything else first: the state must come from the call below
        seed_everything(seed)
        assert torch.equal(torch.get_rng_state(), expected_state)
        assert torch.equal(torch.rand(5), expected)
        assert torch.initial_seed() == seed
    random.seed(seed)
    np.random.seed(seed)
    python_expected, numpy_expected = random.random(), np.random.rand()
    kernel._seed(seed)
    assert (random.random(), np.random.rand()) == (python_expected, numpy_expected)


def test_seed_torch_falls_back_to_manual_seed_when_an_accelerator_is_there():
    calls = []

    class Device:
        def __init__(self, available):
            self.available = available

        def is_available(self):
            return self.available

    class FakeTorch:
        cuda = Device(True)
        xpu = Device(False)
        mtia = Device(False)

        class _C:
            @staticmethod
            def _get_privateuse1_backend_name():
                return "privateuseone"

        class backends:
            mps = Device(False)

        @staticmethod
        def manual_seed(seed):
            calls.append(("manual_seed", seed))

        class default_generator:
            @staticmethod
            def manual_seed(seed):
                calls.append(("cpu only", seed))

    kernel.seed_torch(FakeTorch, 3)
    kernel._has_accelerator.cache_clear()
    FakeTorch.cuda = Device(False)
    kernel.seed_torch(FakeTorch, 4)
    kernel._has_accelerator.cache_clear()
    del FakeTorch.xpu                       # a torch without this device type: take the general path
    kernel.seed_torch(FakeTorch, 5)
    kernel._has_accelerator.cache_clear()
    FakeTorch.xpu = Device(False)
    FakeTorch.privateuseone = object()      # a custom device registered under torch's custom-backend name
    kernel.seed_torch(FakeTorch, 6)
    kernel._has_accelerator.cache_clear()
    assert calls == [("manual_seed", 3), ("cpu only", 4), ("manual_seed", 5), ("manual_seed", 6)]


def test_loaded_importable_is_current_and_read_only():
    table = judge.loaded_importable()
    assert table["torch"] is torch and table["numpy"] is np
    assert "pytest" not in table                         # not an importable package
    with pytest.raises(TypeError):
        table["os"] = None                               # shared by every judge: nobody may change it
    name = "json.tool"
    sys.modules.pop(name, None)
    assert name not in judge.loaded_importable()
    import json.tool  # noqa: F401 - a module loaded after the last look must be seen by the next judge

    assert judge.loaded_importable()[name] is sys.modules[name]


def test_the_warm_parent_freezes_its_heap_after_settling():
    # the judge's module table is still current when the loop forks (what the loop imports, and the
    # executor before its judge, must not make every executor walk sys.modules again)
    code = ("import gc, torch; from autograder.engine import forkserver, judge, kernel, sandbox; forkserver._settle(); "
            "table = judge._LOADED; from autograder.engine.sandbox import system_binds; system_binds((), ()); "
            "judge.loaded_importable(); "
            "print(gc.get_freeze_count() > 1000, sandbox._libc is not None, judge._LOADED is table, "
            "kernel._has_accelerator.cache_info().currsize == 0)")  # no GPU driver started in the warm parent
    assert _python_words(code) == ["True", "True", "True", "True"]


def _huge_pages_offered() -> bool:
    try:
        return "[never]" not in open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return False


def test_huge_pages_moves_the_heap_onto_2_mb_pages_and_leaves_its_contents():
    if not _huge_pages_offered():
        pytest.skip("this kernel offers no transparent huge pages")
    code = ("import hashlib; from autograder.engine import forkserver\n"
            "blocks = [bytes([i]) * (1 << 20) for i in range(64)]\n"   # 64 MB of heap, written
            "digest = hashlib.sha256(b''.join(blocks)).hexdigest()\n"
            "def huge(): return sum(int(l.split()[1]) for l in open('/proc/self/smaps_rollup')\n"
            "                       if l.startswith('AnonHugePages:'))\n"
            "before = huge(); moved = forkserver.huge_pages(); after = huge()\n"
            "print(moved >> 20, (after - before) >> 10, hashlib.sha256(b''.join(blocks)).hexdigest() == digest)")
    moved_mb, huge_mb, same = _python_words(code)
    assert same == "True"                # the heap holds what it held, whatever the kernel did
    if int(moved_mb) < 48:
        # before Linux 6.1 MADV_COLLAPSE does not exist; on a busy host memory may hold no free 2 MB pages
        pytest.skip(f"this kernel moved only {moved_mb} MB onto 2 MB pages (no MADV_COLLAPSE, or no free huge pages)")
    assert int(huge_mb) >= 48            # what it moved, most of the 64 MB written, now sits on 2 MB pages


def test_only_anonymous_writable_memory_is_moved_in_whole_2_mb_pages(tmp_path):
    maps = (b"7f0000000000-7f0000400000 r-xp 00000000 08:01 42 /usr/lib/libtorch_cpu.so\n"   # code: never
            b"7f0000400000-7f0000800000 rw-p 00000000 08:01 42 /usr/lib/libtorch_cpu.so\n"   # file data: never
            b"7ffd00000000-7ffd00400000 rw-p 00000000 00:00 0 [stack]\n"                      # the stack: never
            b"7f0000900000-7f0000a00000 rw-p 00000000 00:00 0\n"                             # under 2 MB: nothing
            b"7f0001100000-7f0001a00000 rw-p 00000000 00:00 0\n"                             # arenas: 7f0001200000..
            b"55d000100000-55d000900000 rw-p 00000000 00:00 0 [heap]\n"                      # the heap
            b"7f0002000000-7f0002400000 r--p 00000000 00:00 0\n"                             # read-only: never
            b"7f0003000000-7f0003400000 rw-s 00000000 00:05 7 /dev/zero (deleted)\n"         # shared: never
            b"not a mapping\n")
    assert forkserver.collapsible(maps) == [(0x7F0001200000, 0x7F0001A00000), (0x55D000200000, 0x55D000800000)]
    assert forkserver.huge_pages(str(tmp_path / "missing")) == 0   # no maps to read: nothing done


CELLS = [
    "x = 1\nprint(x)\n", "a = %time 1\n", "files = !ls\n", "%matplotlib inline\nX = 1\n", "!echo hi\n",
    "len?\n", "x??\n", ",f a b\n", ";f a b\n", "/f 1 2\n", "x != 1\n", "'%d' % 3\n", "In [1]: x = 2\n",
    ">>> y = 3\n", "  z = 4\n", "def f(a,\n      b):\n    return a / b\n", "s = '''\n,quoted\n'''\n",
    "if x:\n    /f 1\n", "t = (1\n, 2)\n", "%%time\nx = 1\n", "x = 1 \\\n  / 2\n", "\n\n  \n",
    "\t1\n 1", "x = (1,\n", "if x:\n\ty = 1\n        z = 2\n", "s = '''\nopen",   # broken: IPython's error
]


@pytest.mark.parametrize("cell", CELLS)
def test_the_kernels_cell_transform_is_ipythons(cell):
    from IPython.core.inputtransformer2 import TransformerManager

    fast = TransformerManager()
    fast.do_token_transforms = kernel._skip_when_plain(fast.do_token_transforms)
    assert _outcome(fast, cell) == _outcome(TransformerManager(), cell)


def _outcome(manager, cell):
    try:
        return manager.transform_cell(cell)
    except Exception as exc:  # noqa: BLE001 - the same error is the same behaviour
        return type(exc).__name__, str(exc)


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.text(alphabet=" \tab1=%!?,;/()[]'\"#:>.\\\n", max_size=12), max_size=6))
    def test_the_kernels_cell_transform_is_ipythons_on_any_text(pieces):
        from IPython.core.inputtransformer2 import TransformerManager

        cell = "\n".join(pieces)
        fast = TransformerManager()
        fast.do_token_transforms = kernel._skip_when_plain(fast.do_token_transforms)
        assert _outcome(fast, cell) == _outcome(TransformerManager(), cell)


    @settings(max_examples=600, deadline=None)
    @given(st.lists(st.sampled_from(["x", "=", "%", "!", "!=", "?", "(", ")", ",", ";", "/", "1", "'", "#", "a",
                                     "\n", " ", "    ", "\\\n", "time", "ls", ":", "if x", "f'{x:.1%}'", "'?'"]),
                    max_size=14))
    def test_the_kernels_cell_transform_is_ipythons_on_near_python(pieces):
        from IPython.core.inputtransformer2 import TransformerManager

        cell = "".join(pieces)
        fast = TransformerManager()
        fast.do_token_transforms = kernel._skip_when_plain(fast.do_token_transforms)
        assert _outcome(fast, cell) == _outcome(TransformerManager(), cell)


ASYNC_CELLS = ["x = 1", "await f()", "async def f():\n    return 1", "x = 'await'", "# async\nx = 1",
               "async with a:\n    pass", "async for i in a:\n    pass", "await", "r = [await g() for g in gs]",
               "%time await f()", "def f(:", "x = await_me()", "asyncio = 1", "f(await x)"]


def _should_run_async(shell, check, cell):
    transformed = shell.transform_cell(cell)
    return check(cell, transformed_cell=transformed, preprocessing_exc_tuple=None)


@pytest.mark.parametrize("cell", ASYNC_CELLS)
def test_the_kernels_autoawait_check_is_ipythons(cell):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    real = shell.should_run_async
    assert _should_run_async(shell, kernel._sync_unless_await(real), cell) == _should_run_async(shell, real, cell)


if given is not None:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from(["await", "async", " ", "\n", "x", "(", ")", ":", "def", "for", "with", "f()",
                                     "=", "    ", "#", "'", "lambda"]), max_size=10))
    def test_the_kernels_autoawait_check_is_ipythons_on_any_text(pieces):
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance()
        real = shell.should_run_async
        cell = "".join(pieces)
        try:
            expected = _should_run_async(shell, real, cell)
        except Exception as exc:  # noqa: BLE001 - the transform itself fails: the same error either way
            with pytest.raises(type(exc)):
                _should_run_async(shell, kernel._sync_unless_await(real), cell)
            return
        assert _should_run_async(shell, kernel._sync_unless_await(real), cell) == expected


def test_without_a_device_torch_seeding_queues_no_stack_traces_and_seeds_the_same():
    # in a fresh interpreter: the kernel and the judge do this in their own processes
    code = ("import traceback, torch; from autograder.engine import kernel\n"
            "calls = []; real = traceback.format_stack\n"
            "traceback.format_stack = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
            "torch.manual_seed(3); before = len(calls); expected = torch.rand(5)\n"
            "changed = kernel.quiet_device_queues(torch); again = kernel.quiet_device_queues(torch)\n"
            "torch.manual_seed(3); got = torch.rand(5)\n"
            "print(before > 0, changed, again, len(calls) == before, torch.equal(got, expected), "
            "torch.cuda.traceback.format_exc is traceback.format_exc)")
    # stacks were formatted before; then none; asked twice it changes nothing more; the same numbers;
    # the rest of the traceback module is the real one
    assert _python_words(code) == ["True", "True", "False", "True", "True", "True"]


def test_with_a_device_torch_keeps_its_stack_traces(monkeypatch):
    import traceback

    monkeypatch.setattr(kernel, "_has_accelerator", lambda torch: True)
    # a judge made in this process earlier (tests/test_given_data.py) quietened them: start from torch's own
    for device in ("cuda", "xpu", "mtia"):
        if hasattr(getattr(torch, device, None), "traceback"):
            monkeypatch.setattr(getattr(torch, device), "traceback", traceback)
    assert kernel.quiet_device_queues(torch) is False
    assert torch.cuda.traceback is traceback


def _unsandboxed_channel(tmp_path, **kwargs):
    import os

    from autograder.engine import sandbox
    from autograder.engine.kernel_client import Channel
    from coursebase.policy import Limits

    spec = sandbox.SandboxSpec(uid=os.getuid(), limits=Limits(memory_mb=2048, cpu_time=120, processes=64,
                                                              file_size_mb=16, disk_mb=64))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    return Channel(spec, sandboxed=False, seed=1, output_limit=1 << 16, env=env, workdir=str(tmp_path),
                   setup_timeout=120, **kwargs)


def test_a_channel_that_does_not_wait_is_ready_before_its_first_cell(tmp_path):
    import time

    channel = _unsandboxed_channel(tmp_path, wait=False)
    try:
        # no wait_ready(): the first request waits for the ready message itself, never takes it for a reply
        out = channel.run_cell("print(6 * 7)", time.monotonic() + 120)
        assert (out.stdout, out.error) == ("42\n", "")
        channel.wait_ready()        # a second wait returns at once, nothing is read out of turn
        assert channel.run_cell("print('again')", time.monotonic() + 120).stdout == "again\n"
        assert channel.protocol_broken == "" and channel.dead is None
    finally:
        channel.close()


def test_a_sandbox_that_cannot_be_set_up_is_reported_when_waited_for(tmp_path):
    from autograder.engine import sandbox

    # the kernel is to work in a folder that does not exist: its setup fails
    channel = _unsandboxed_channel(tmp_path / "missing", wait=False)
    with pytest.raises(sandbox.SandboxUnavailable):
        channel.wait_ready()
    assert channel.dead is not None       # ended and reaped, as when Channel() itself waits
    channel.close()


KERNEL_IMPORTS = r'''
import json, os, sys, tempfile, time
from pathlib import Path
import torch
from autograder.engine import forkserver, sandbox
from autograder.engine.kernel_client import Channel
from autograder.engine.wire import Op
from coursebase.answers import reference_answers
from coursebase.notebook import cell_text, split_hidden
from coursebase.policy import Limits, load_policy

root = Path(sys.argv[1])
os.environ.update(forkserver.THREAD_ENV)
forkserver.warm_up(list(load_policy(root).sandbox.preimport), tempfile.mkdtemp())
work = tempfile.mkdtemp()
spec = sandbox.SandboxSpec(uid=os.getuid(), limits=Limits(memory_mb=4096, cpu_time=300, processes=64,
                                                          file_size_mb=16, disk_mb=64))
env = {"PATH": os.environ["PATH"], "HOME": work, "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
       "NBGRADER_EXECUTION": "autograde"}
new = {}
for name in sys.argv[2:]:
    source = json.loads(next((root / "source" / name).glob("*.ipynb")).read_text(encoding="utf-8"))
    answers = reference_answers(source)
    for solved in (True, False):
        cells = []
        for cell in source["cells"]:
            if cell["cell_type"] != "code":
                continue
            meta = cell.get("metadata", {}).get("nbgrader", {})
            text = cell_text(cell["source"])
            if meta.get("grade") and not meta.get("solution"):
                text = split_hidden(text)[0]            # the kernel runs a test's visible part
            elif meta.get("grade_id") in answers:
                text = answers[meta["grade_id"]] if solved else "raise NotImplementedError()"
            cells.append(text)
        channel = Channel(spec, sandboxed=False, seed=1, output_limit=1 << 20, env=env, workdir=work,
                          setup_timeout=120)
        try:
            deadline = time.monotonic() + 240
            channel.run_cell("import sys as _sys\n_before = set(_sys.modules)\n_f = lambda t: len(t)", deadline)
            for text in cells:
                channel.run_cell(text, deadline)
            # a judge's call with a tensor argument: the kernel unpickles it
            f = channel.request((Op.GET, "_f"), deadline, lambda meta: meta["id"], lambda name: None)
            assert channel.request((Op.CALL, f, (torch.ones(2),), {}), deadline, None, None) == 2
            channel.run_cell("_new = sorted(set(_sys.modules) - _before)", deadline)
            new[f"{name} {'solved' if solved else 'blank'}"] = channel.request(
                (Op.GET, "_new"), deadline, lambda meta: None, lambda name: None)
        finally:
            channel.close()
print(json.dumps(new))
'''


@pytest.mark.slow
def test_a_kernel_imports_nothing_from_disk_while_it_runs_the_course_notebooks(tmp_path):
    """What a kernel's cells import after the fork is read from disk once per submission: the warm
    parent imports it once instead (forkserver.LAZY_IMPORTS). Solved and blank (tracebacks) notebooks."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = tmp_path / "imports.py"
    script.write_text(KERNEL_IMPORTS)
    out = subprocess.run([sys.executable, str(script), str(root), "01_tensors", "04_mlp_fashion_mnist"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    new = json.loads(out.stdout.splitlines()[-1])
    assert set(new) == {"01_tensors solved", "01_tensors blank", "04_mlp_fashion_mnist solved",
                        "04_mlp_fashion_mnist blank"}
    assert new == {key: [] for key in new}, new


def test_the_warm_up_trains_once_without_a_thread_and_leaves_the_generator_as_it_was(tmp_path):
    code = ("import os, torch, pandas; from autograder.engine import forkserver\n"
            "state = torch.get_rng_state(); forkserver.exercise_torch(torch); forkserver.exercise_pandas(pandas)\n"
            "same = torch.equal(state, torch.get_rng_state())\n"
            f"forkserver.warm_up(['numpy', 'torch', 'torch.nn', 'torch.optim', 'pandas'], {str(tmp_path)!r})\n"
            "print(same, len(os.listdir('/proc/self/task')))")
    env = {**__import__("os").environ, **forkserver.THREAD_ENV}
    assert _python_words(code, env) == ["True", "1"]   # forks never inherit a thread's lock


PARSE_CELLS = ["x = 1\ny = x + 1\n", "x = '\\d'\n", "%time x = 1\n", "def f(:\n", "t = (1\n, 2)\n", "x != 1\n",
               "from __future__ import annotations\nx: int = 1\n", "  z = 4\n", "s = 'a %d ?' % 3\n"]


def _pipeline(cell: str, fast: bool):
    import ast
    import warnings

    from IPython.core.compilerop import CachingCompiler
    from IPython.core.inputtransformer2 import TransformerManager

    manager, compiler, real_parses = TransformerManager(), CachingCompiler(), []
    real = compiler.ast_parse
    compiler.ast_parse = lambda *a, **k: real_parses.append(1) or real(*a, **k)
    if fast:
        parsed: dict = {}
        manager.do_token_transforms = kernel._skip_when_plain(manager.do_token_transforms, parsed)
        compiler.ast_parse = kernel._parse_once(compiler, parsed)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            text = manager.transform_cell(cell)
            outcome = ast.dump(compiler.ast_parse(text, filename="<cell>"))
        except SyntaxError as exc:
            outcome = f"{type(exc).__name__}: {exc.msg}"
    return outcome, sorted(str(w.message) for w in seen), len(real_parses)


@pytest.mark.parametrize("cell", PARSE_CELLS)
def test_the_kernel_parses_a_plain_cell_once_with_ipythons_result_and_warnings(cell):
    fast, slow = _pipeline(cell, True), _pipeline(cell, False)
    assert fast[:2] == slow[:2]                       # the same tree or error, the same warnings shown
    needs_ipython = cell in ("x = '\\d'\n", "%time x = 1\n", "def f(:\n")   # a warning, a magic, an error
    assert fast[2] == (1 if needs_ipython else 0)   # IPython's own parse only where it is needed
