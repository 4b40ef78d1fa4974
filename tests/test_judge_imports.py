"""The judge chooses its own imports: a module name that arrives in a student value is never imported.

The student's values come from a real kernel over the real wire (a kernel with
limits only, so that this test process is not moved into new namespaces). A
throwaway package on the judge's import path has a submodule whose import
writes a file: the judge must never run it, even when the package itself is
one it accepts modules from.

Also here, as it needs the same real kernel: iterating a student object whose
items do not fit in one reply is an error, never an empty loop.
"""
from __future__ import annotations

import os
import sys
import time

import pytest

from autograder.engine import judge as judge_mod
from autograder.engine import sandbox
from autograder.engine.judge import Judge
from autograder.engine.kernel_client import Channel
from coursebase.policy import Limits

pytestmark = pytest.mark.slow


@pytest.fixture()
def sidefx(tmp_path, monkeypatch):
    """A package ``sidefx_pkg`` the judge accepts modules from, whose submodule ``boom`` has an import side effect."""
    marker = tmp_path / "imported.txt"
    pkg = tmp_path / "path" / "sidefx_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "boom.py").write_text(f"open({str(marker)!r}, 'w').write('the judge imported me')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "path"))
    import sidefx_pkg  # noqa: F401 - the allowed package itself is loaded, as torch is in the warm parent

    monkeypatch.setattr(judge_mod, "IMPORTABLE", judge_mod.IMPORTABLE | {"sidefx_pkg"})
    yield marker
    for name in ("sidefx_pkg", "sidefx_pkg.boom"):
        sys.modules.pop(name, None)


@pytest.fixture()
def kernel(tmp_path):
    spec = sandbox.SandboxSpec(uid=os.getuid(), limits=Limits(memory_mb=2048, cpu_time=120, processes=64,
                                                              file_size_mb=16, disk_mb=64))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    channel = Channel(spec, sandboxed=False, seed=1, output_limit=1 << 16, env=env, workdir=str(tmp_path),
                      setup_timeout=120)
    yield channel
    channel.close()


def run(channel: Channel, code: str):
    out = channel.run_cell(code, time.monotonic() + 60)
    assert not out.error, out.error


def test_student_module_names_are_never_imported_by_the_judge(sidefx, kernel):
    run(kernel, "import types, sys\n"
                "boom = types.ModuleType('sidefx_pkg.boom')\n"
                "bottleneck = types.ModuleType('torch.utils.bottleneck')\n"
                "gravity = types.ModuleType('antigravity')\n"
                "real_np = __import__('numpy')\n"
                "mods = [boom, bottleneck, gravity]\n")
    judge = Judge(kernel, seed=1)
    verdict = judge.run_test(
        "assert type(boom).__name__ == 'Remote'\n"
        "assert type(bottleneck).__name__ == 'Remote' and type(gravity).__name__ == 'Remote'\n"
        "import numpy\nassert real_np is numpy\n"  # a module the judge has is the judge's own
        "assert all(type(m).__name__ == 'Remote' for m in mods)\n",
        1.0, time.monotonic() + 60)
    assert verdict.error == "" and verdict.score == 1.0
    assert not sidefx.exists()
    assert "sidefx_pkg.boom" not in sys.modules
    assert "antigravity" not in sys.modules
    assert not any(name.startswith("torch.utils.bottleneck") for name in sys.modules)


def test_a_module_handle_still_works_through_the_sandbox(kernel):
    run(kernel, "import types\nmine = types.ModuleType('mine')\nmine.answer = 42\n")
    judge = Judge(kernel, seed=1)
    verdict = judge.run_test("assert mine.answer == 42", 1.0, time.monotonic() + 60)
    assert verdict.score == 1.0, verdict.error


def test_resolution_uses_only_the_fixed_table(sidefx):
    judge = Judge(channel=None, seed=1)  # type: ignore[arg-type] - resolution needs no kernel
    assert judge._resolve("sidefx_pkg.boom") is None
    assert judge._resolve("torch.utils.bottleneck") is None
    assert judge._resolve("antigravity") is None
    assert not sidefx.exists()
    import torch

    assert judge._resolve("torch.nn") is torch.nn
    with pytest.raises(ImportError, match="fixed list"):
        judge._import("sidefx_pkg.boom")
    assert not sidefx.exists()
    judge.module_names["helpers"] = "json.decoder"  # what the instructor's given cells import is in the list
    assert judge._resolve("json.decoder") is sys.modules["json.decoder"]


def test_judge_resolution_is_fixed_when_it_is_made(sidefx):
    judge = Judge(channel=None, seed=1)  # type: ignore[arg-type]
    import sidefx_pkg.boom  # noqa: F401 - loaded later, by someone else: still not in this judge's table

    assert judge._resolve("sidefx_pkg.boom") is None


def test_iterating_more_than_one_reply_carries_is_an_error_not_an_empty_loop(kernel):
    """Past the reply bounds an honest kernel sends a handle; iterating it must fail, not yield nothing."""
    run(kernel, "class Many:\n"
                "    def __iter__(self):\n"
                "        return (object() for _ in range(500_000))\n"
                "many = Many()\n")
    judge = Judge(kernel, seed=1)
    verdict = judge.run_test("assert all(False for _ in many)", 1.0, time.monotonic() + 120)
    assert verdict.score == 0.0
    assert verdict.error.startswith("OverflowError"), verdict.error
