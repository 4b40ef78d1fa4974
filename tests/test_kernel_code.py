"""kernel_code.py: the released cells compiled with the kit; the kernel runs them as IPython would.

Real kernels (unsandboxed), forked from a fresh interpreter warmed up as the fork server is (this
test process's own IPython keeps a history database that kernels forked from it would share).
The oracle is a kernel that compiles every cell itself: with the kit's entries, every cell's
output, error (tracebacks included), shown value and the kernel's state afterwards must be the
same. To show that an entry is really used, and only where the shell would compile the same
thing, one test sends an entry whose code differs from the cell (something only a test does):
its output tells which code ran.
"""
from __future__ import annotations

import json
import marshal
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.engine import kernel_code
from autograder.engine.grading_kit import Kit, KitCell

pytestmark = pytest.mark.slow

CELLS = [
    "import torch\nx = torch.arange(6).reshape(2, 3)\nx",                     # last expression: shown
    "y = x * 2\nprint(y.sum())\ny;",                                          # ';': not shown
    "def double(t):\n    return [v * 2 for v in t]\nclass C:\n    k = 1\ndouble([1, 2])",
    "z = 5\nassert z == 6, 'the visible test fails here'\nprint('never')",   # a failing visible test
    "def broken():\n    return 1 / 0\nbroken()",                             # traceback inside a function
    "from __future__ import annotations\ndef f(a: Undefined) -> int:\n    return 1\nf.__annotations__",
    "def g(a: Undefined2):\n    return a\ng(3)",                            # still under that future import
    "_\n",                                                                    # IPython's last result
    "%precision 3\n1 / 3",                                                     # a magic: transformed
    "s = 'a\\d'\ns",                                                          # warns: left to the kernel
    "import asyncio\nawait asyncio.sleep(0)\n'awaited'",                      # top-level await
    "def h(:\n    pass",                                                      # not Python
    "[In[1][:6], Out.get(1) is not None, _i]",
]


SESSIONS = r"""
import json, marshal, os, sys, tempfile, time
from pathlib import Path
from autograder.engine import forkserver
os.environ.update(forkserver.THREAD_ENV)
forkserver.warm_up(["numpy", "torch"], tempfile.mkdtemp())
sys.path.insert(0, sys.argv[2])
from test_engine_speed import _unsandboxed_channel
got = []
for steps in marshal.loads(Path(sys.argv[1]).read_bytes()):
    channel = _unsandboxed_channel(Path(tempfile.mkdtemp()))
    try:
        outs = []
        for cell, released in steps:
            out = channel.run_cell(cell, time.monotonic() + 120, released=released)
            outs.append((out.stdout, out.stderr, out.error, out.results))
        got.append(outs)
    finally:
        channel.close()
print(json.dumps(got))
"""


def _sessions(tmp_path, sessions: list[list[tuple[str, bytes | None]]]) -> list[list[tuple]]:
    """Each session's (cell, entry or None) steps in a kernel of its own: (stdout, stderr, error, results) per step."""
    steps = tmp_path / "steps.marshal"
    steps.write_bytes(marshal.dumps(sessions))
    out = subprocess.run([sys.executable, "-c", SESSIONS, str(steps), str(Path(__file__).parent)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return [[tuple(step) for step in session] for session in json.loads(out.stdout.splitlines()[-1])]


def _entries(cells) -> dict[str, bytes]:
    kit = Kit(assignment="a", notebook="a.ipynb", cells=[
        KitCell(f"c{i}", "code", True, False, False, None, None, cell, cell) for i, cell in enumerate(cells)])
    return kernel_code.load(kit.compile_for_kernel())


def test_released_cells_run_exactly_as_when_the_kernel_compiles_them(tmp_path):
    entries = _entries(CELLS)
    # compiled with the kit: everything but the warning, the await and the broken cell
    assert set(entries) == set(CELLS) - {CELLS[9], CELLS[10], CELLS[11]}
    plain, compiled = _sessions(tmp_path, [[(cell, None) for cell in CELLS],
                                           [(cell, entries.get(cell)) for cell in CELLS]])
    assert "the visible test fails here" in plain[3][2] and "ZeroDivisionError" in plain[4][2]
    assert "broken()" in plain[4][2] and "return 1 / 0" in plain[4][2]   # source lines in the traceback
    shown = [out + repr(results) for out, _, _, results in plain]   # a last value, however the shell shows it
    assert "{'a': 'Undefined', 'return': 'int'}" in shown[5] and "3" in shown[6] and "0.333" in shown[8]
    assert "tensor([[0, 1, 2]" in shown[0] and "[2, 4]" in shown[2] and "tensor(30)" in shown[1]
    assert compiled == plain


def _forged(cell: str, runs: str) -> bytes:
    """An entry for ``cell`` whose code is that of ``runs`` (a test's way to see which code ran)."""
    text, _ = kernel_code.compile_cell(cell)
    _, codes = kernel_code.compile_cell(runs)
    return marshal.dumps((text, codes))


def test_an_entry_is_used_only_while_the_shell_would_compile_the_same(tmp_path):
    cell = "marker = 'compiled here'\nprint(marker)"
    forged = _forged(cell, "marker = 'from the kit'\nprint(marker)")
    steps: list[tuple[str, bytes | None]] = [(cell, forged)]          # the entry's code runs: it is used
    changes = [
        ("get_ipython().ast_node_interactivity = 'all'", "get_ipython().ast_node_interactivity = 'last_expr'"),
        ("get_ipython().autoawait = False", "get_ipython().autoawait = True"),
        ("import ast\nclass T(ast.NodeTransformer):\n    pass\nget_ipython().ast_transformers.append(T())",
         "get_ipython().ast_transformers.clear()"),
    ]
    for change, undo in changes:
        steps += [(change, None), (cell, forged), (undo, None), (cell, forged)]
    steps += [("from __future__ import annotations", None), (cell, forged)]   # changes the flags for good
    printed = [stdout for stdout, _, _, _ in _sessions(tmp_path, [steps])[0]]
    assert printed[0] == "from the kit\n"
    for k in range(len(changes)):
        changed, undone = printed[1 + 4 * k + 1], printed[1 + 4 * k + 3]
        assert (changed, undone) == ("compiled here\n", "from the kit\n"), changes[k]   # compiled while changed
    assert printed[-1] == "compiled here\n"


def test_a_hidden_test_never_reaches_the_kernels_entries():
    secret = "assert answer == 42, 'SECRET_HIDDEN_CHECK'"
    cells = [KitCell("test_q", "code", True, True, False, 1.0, None,
                     f"assert answer > 0\n### BEGIN HIDDEN TESTS\n{secret}\n### END HIDDEN TESTS", "assert answer > 0"),
             KitCell("given", "code", True, False, False, None, None, "A = 1", "A = 1"),
             KitCell("edited_lock", "code", True, False, False, None, None, "B = 'instructor only'", "B = 2")]
    kit = Kit(assignment="a", notebook="a.ipynb", cells=cells)
    assert kit.released_code() == ["assert answer > 0", "A = 1"]
    text = kit.compile_for_kernel()
    assert "SECRET" not in repr(kernel_code.load(text)) and b"SECRET" not in marshal.dumps(kernel_code.load(text))
    assert set(kernel_code.load(text)) == {"assert answer > 0", "A = 1"}


@pytest.mark.parametrize("text", ["", "0000/1.0:e30=", f"{kernel_code.stamp()}:not base64!",
                                  f"{kernel_code.stamp()}.0:" + "e30="])
def test_entries_from_another_python_or_ipython_or_unreadable_are_not_used(text):
    assert kernel_code.load(text) == {}


def test_a_last_value_is_the_cells_result_as_in_jupyter_not_printed_text(tmp_path):
    """A cell's last expression is shown as its result (text/plain), as Jupyter and nbgrader keep it, never
    as an 'Out[n]:' line in its stdout; ';' and None show nothing, and `_` follows the shown values."""
    cells = ["6 * 7", "7;", "print('a')\n5", "_ + 1", "None", "x = 1", "import torch\ntorch.tensor([1.5])"]
    outs = _sessions(tmp_path, [[(cell, None) for cell in cells]])[0]
    assert [results for _, _, _, results in outs] == [
        [{"text/plain": "42"}], [], [{"text/plain": "5"}], [{"text/plain": "6"}], [], [],
        [{"text/plain": "tensor([1.5000])"}]]
    assert [stdout for stdout, _, _, _ in outs] == ["", "", "a\n", "", "", "", ""]
    assert all(not err and not error for _, err, error, _ in outs)
