"""judge_code.py: the instructor's cells compiled once, with the kit, and used by every executor.

Fast tier: judges without a kernel (``channel=None``), so only tests that need nothing of the
student run here; the graded homeworks of the slow tier go through the same code path.
The oracle is a judge that compiles everything itself: with the kit's code, every verdict,
given value and error must be the same, and nothing may be compiled.
"""
from __future__ import annotations

import base64
import marshal

import pytest

from autograder.engine import judge_code
from autograder.engine.grading_kit import Kit, KitCell
from autograder.engine.judge import Judge, given_imports
from autograder.engine.judge_code import Compiled, judged_name

TESTS = {
    "passes": "import torch\nassert torch.ones(2).sum() == 2",
    "fails": "assert 1 + 1 == 3, 'arithmetic'",
    "partial": "x = 3\nx / 4",
    "suppressed": "x = 3\nx / 4;",
    "hidden": "a = 1\n### BEGIN HIDDEN TESTS\nassert a == 2, 'hidden'\n### END HIDDEN TESTS",
    "annotation": "value: NotDefinedAnywhere = 5\nassert value == 5",
    "magic": "%time y = 2\nassert y == 2",
    "broken": "def f(:\n    pass",
    "given data": "assert float(T.sum()) == 2.0\nMODE",
}
GIVEN = [("given_t", "import torch\nimport numpy as np\nfrom torch import nn\nT = torch.ones(2)\nMODE = 'given'", 1),
         ("given_fails", "W = 1\nraise ValueError('instructor data missing')", 2),
         ("given_magic", "%time M = 3", 3)]


def _verdicts(judge: Judge, folder) -> dict:
    folder.mkdir()
    judge.run_given(GIVEN, {}, str(folder), timeout=30)
    verdicts = {name: vars(judge.run_test(source, 2.0, float("inf"), name=judged_name(name)))
                for name, source in TESTS.items()}
    return {"verdicts": verdicts, "given": sorted(judge.given), "errors": judge.given_errors,
            "names": judge.given_names}


def _compiled() -> Compiled:
    built = Compiled.build(tests=[(source, judged_name(name)) for name, source in TESTS.items()],
                           given=[(source, grade_id) for grade_id, source, _ in GIVEN],
                           locked=[source for _, source, _ in GIVEN])
    return Compiled.loads(built.dumps())   # as an executor gets it: through the kit's text


def test_the_kits_code_gives_every_verdict_a_judge_compiling_itself_gives_and_nothing_is_compiled(
        tmp_path, monkeypatch):
    expected = _verdicts(Judge(channel=None, seed=1), tmp_path / "a")
    assert expected["verdicts"]["passes"]["score"] == 2.0 and expected["verdicts"]["partial"]["score"] == 0.75
    assert expected["verdicts"]["suppressed"]["score"] == 2.0 and expected["verdicts"]["annotation"]["score"] == 2.0
    assert expected["verdicts"]["hidden"] == {"score": 0.0, "error": "AssertionError in a hidden test",
                                              "timed_out": False}
    assert "could not be parsed" in expected["verdicts"]["broken"]["error"]
    assert "instructor data missing" in expected["errors"]["given_fails"] and "given_magic" in expected["errors"]

    compiled = _compiled()

    def refusing(real):
        def compile_only_what_does_not_compile(source, *args):
            if source != TESTS["broken"]:   # not Python: not in the kit, found out again here
                raise AssertionError("compiled in the executor although the kit had it")
            return real(source, *args)
        return compile_only_what_does_not_compile

    for name in ("compile_test", "compile_given", "bound_names", "import_statements"):
        monkeypatch.setattr(judge_code, name, refusing(getattr(judge_code, name)))
    assert _verdicts(Judge(channel=None, seed=1, compiled=compiled), tmp_path / "b") == expected
    # every test but the broken one, every given cell, and the given cells' names (three each)
    assert compiled.hits == (len(TESTS) - 1) + len(GIVEN) + len(GIVEN)


def test_the_given_cells_imports_are_the_same_from_the_kit():
    sources = [source for _, source, _ in GIVEN] + ["import os.path\nfrom collections import abc\n"
                                                    "def f():\n    import pandas as pd\n"]
    compiled = Compiled.loads(Compiled.build(tests=[], given=[], locked=sources).dumps())
    assert given_imports(sources, compiled) == given_imports(sources) == {
        "torch": "torch", "np": "numpy", "nn": "torch.nn", "os": "os", "abc": "collections.abc", "pd": "pandas"}
    assert compiled.hits == len(sources)


def test_a_cell_that_differs_by_one_character_is_compiled_afresh(tmp_path):
    compiled = _compiled()
    judge = Judge(channel=None, seed=1, compiled=compiled)
    changed = TESTS["fails"].replace("3", "2")
    assert judge.run_test(changed, 1.0, float("inf"), name=judged_name("fails")).score == 1.0
    # the same text under another name is another file name in tracebacks: compiled afresh too
    assert judge.run_test(TESTS["passes"], 1.0, float("inf"), name=judged_name("other")).score == 1.0
    assert compiled.hits == 0


@pytest.mark.parametrize("text", [
    "",                                                    # a kit written before the judge's code was kept
    "0000:" + base64.b64encode(marshal.dumps({})).decode(),  # another Python's marshal format
    f"{judge_code.MAGIC}:not base64 at all!",
    f"{judge_code.MAGIC}:" + base64.b64encode(b"\x00\x01 truncated").decode(),
    f"{judge_code.MAGIC}:" + base64.b64encode(marshal.dumps([1, 2])).decode(),   # not the entries
])
def test_code_from_another_python_or_unreadable_is_not_used_and_grading_goes_on(text, tmp_path):
    compiled = Compiled.loads(text)
    assert _verdicts(Judge(channel=None, seed=1, compiled=compiled), tmp_path / "x") == \
        _verdicts(Judge(channel=None, seed=1), tmp_path / "y")
    assert compiled.hits == 0


def test_the_kit_carries_code_for_every_test_and_given_cell_under_the_names_the_executor_uses():
    cells = [KitCell("given_t", "code", True, False, False, None, None, GIVEN[0][1], GIVEN[0][1]),
             KitCell("q1", "code", False, False, True, None, None, "x = 1", "x = 1"),
             KitCell("test_q1", "code", True, True, False, 2.0, None, TESTS["hidden"], "a = 1"),
             KitCell("text", "markdown", True, False, False, None, None, "# Title", "# Title")]
    kit = Kit(assignment="a1", notebook="a1.ipynb", cells=cells)
    hashed_before = kit.to_json()["tests_hash"]
    kit.compiled = kit.compile_for_judge()
    again = Kit.from_json(kit.to_json())
    assert again.compiled == kit.compiled and again.to_json()["tests_hash"] == hashed_before
    compiled = Compiled.loads(again.compiled)
    compiled.test(TESTS["hidden"], judged_name("test_q1"))
    compiled.given(GIVEN[0][1], "given_t")
    assert compiled.names(GIVEN[0][1]) == {"torch", "np", "nn", "T", "MODE"}
    assert compiled.hits == 3
    assert Kit.from_json({k: v for k, v in kit.to_json().items() if k != "compiled"}).compiled == ""
