"""judge.py's pure helpers (and feedback's hidden-test scrubbing): names a cell binds, hidden-test markers.

Fast tier: no kernel, no channel. nbgrader's own ``ClearHiddenTests`` is the
oracle for which lines are hidden: whatever nbgrader hides from students, the
judge must treat as hidden too (its failure messages never quote those lines).
"""
from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import ClearHiddenTests

from autograder.engine.judge import given_imports
from autograder.engine.judge_code import bound_names
from autograder.feedback import HIDDEN_NOTE, scrub
from autograder.feedback import hidden_lines as feedback_hidden_lines
from coursebase.notebook import hidden_line_numbers as hidden_lines
from coursebase.notebook import split_hidden

# ---------------------------------------------------------------- bound_names

@pytest.mark.parametrize("source, names", [
    ("x = 1", {"x"}),
    ("a, (b, c) = 1, (2, 3)", {"a", "b", "c"}),
    ("x += 1\ny: int = 2", {"x", "y"}),
    ("import numpy as np\nimport torch.nn\nfrom math import pi, tau as t", {"np", "torch", "pi", "t"}),
    ("from os.path import *", set()),
    ("def f(a, b=1):\n    inner = a\n    return inner", {"f"}),
    ("@decorate\nclass Net:\n    layer = 3", {"Net"}),
    ("async def g():\n    z = 1", {"g"}),
    ("for i in range(3):\n    total = i", {"i", "total"}),
    ("with open('f') as fh:\n    data = fh.read()", {"fh", "data"}),
    ("try:\n    pass\nexcept ValueError as err:\n    msg = 1", {"err", "msg"}),
    ("if (n := 10) > 5:\n    big = True", {"n", "big"}),
    ("squares = [k * k for k in range(3)]", {"squares"}),          # k is the comprehension's own
    ("f = lambda q: q + 1", {"f"}),                                 # q is the lambda's own
    ("del old", {"old"}),
    ("match p:\n    case [first, *rest]:\n        pass\n    case {'k': v} as whole:\n        pass",
     {"first", "rest", "v", "whole"}),
    ("while True:\n    if ok:\n        result = 1\n    break", {"result"}),
    ("%matplotlib inline\nX = 1", {"X"}),                           # IPython magics are transformed first
    ("x = (", set()),                                               # a syntax error binds nothing
    ("print(x)\nx == 1", set()),                                    # reading is not binding
])
def test_bound_names_are_the_top_level_bindings(source, names):
    assert bound_names(source) == names


# ---------------------------------------------------------------- given_imports

def test_given_imports_map_names_to_modules_of_the_fixed_table_only():
    found = given_imports([("import numpy as np\nimport os.path\nfrom collections import abc\n"
                           "from math import pi\nimport subprocess as sp\nfrom . import local\n"),
                           "this is ( not python"])
    assert found["np"] == "numpy"
    assert found["os"] == "os"
    assert found["abc"] == "collections.abc"     # a submodule imported with from
    assert "pi" not in found                     # a value, not a module
    assert "sp" not in found                     # subprocess is not a module a test may receive
    assert "local" not in found                  # relative imports never


# ---------------------------------------------------------------- hidden-test markers

def nbgrader_hidden(source: str) -> set[int]:
    """1-based line numbers nbgrader's ClearHiddenTests removes from ``source`` (distinct lines assumed)."""
    cell = new_code_cell(source)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    kept = cell.source.split("\n")
    removed, k = set(), 0
    for number, line in enumerate(source.split("\n"), 1):
        if k < len(kept) and kept[k] == line:
            k += 1
        else:
            removed.add(number)
    return removed


STANDARD = ("assert f(1) == 1\n"
            "### BEGIN HIDDEN TESTS\n"
            "assert f(2) == 4, 'f(2) should be 4'\n"
            "### END HIDDEN TESTS\n"
            "assert f(0) == 0")


def test_the_standard_markers_hide_the_block_and_its_markers():
    assert hidden_lines(STANDARD) == {2, 3, 4} == nbgrader_hidden(STANDARD)
    visible, hidden = split_hidden(STANDARD)
    assert visible == "assert f(1) == 1\nassert f(0) == 0"
    assert hidden == STANDARD.split("\n")[1:4]


def test_two_blocks_and_indented_markers():
    source = ("a = 1\n"
              "    ### BEGIN HIDDEN TESTS\n"
              "b = 2\n"
              "    ### END HIDDEN TESTS\n"
              "c = 3\n"
              "###BEGIN HIDDEN TESTS\n"
              "d = 4\n"
              "###END HIDDEN TESTS")
    assert hidden_lines(source) == {2, 3, 4, 6, 7, 8} == nbgrader_hidden(source)


@pytest.mark.parametrize("begin, end", [
    ("# BEGIN HIDDEN TESTS", "# END HIDDEN TESTS"),
    ("## BEGIN HIDDEN TESTS", "## END HIDDEN TESTS"),
    ("#### BEGIN HIDDEN TESTS", "#### END HIDDEN TESTS"),
    ("x = 0  ### BEGIN HIDDEN TESTS", "y = 0  ### END HIDDEN TESTS"),
])
def test_the_judge_hides_every_line_nbgrader_hides(begin, end):
    # nbgrader hides a block whenever its line *contains* the delimiter; the judge must not
    # quote such a line in a failure message, or a student learns the hidden test
    source = f"assert f(1) == 1\n{begin}\nassert f(2) == 4, 'f(2) should be 4'\n{end}\nassert f(0) == 0"
    assert nbgrader_hidden(source) == {2, 3, 4}
    assert hidden_lines(source) == nbgrader_hidden(source)


def test_feedback_agrees_with_nbgrader_on_the_marker_variants():
    for begin in ("### BEGIN HIDDEN TESTS", "# BEGIN HIDDEN TESTS"):
        source = f"visible = 1\n{begin}\nsecret = 2\n{begin.replace('BEGIN', 'END')}"
        visible, hidden = split_hidden(source)
        assert visible == "visible = 1" and hidden[1] == "secret = 2"


def test_hidden_lines_for_feedback_are_those_students_never_saw():
    released = "assert f(1) == 1\nassert f(0) == 0"
    found = feedback_hidden_lines([STANDARD + "\nassert f(1) == 1"], [released])
    assert found == frozenset({"### BEGIN HIDDEN TESTS", "assert f(2) == 4, 'f(2) should be 4'",
                               "### END HIDDEN TESTS"})


def test_scrub_replaces_lines_quoting_a_hidden_test_and_keeps_the_rest():
    hidden = frozenset({"assert f(2) == 4, 'f(2) should be 4'"})
    traceback = ("\x1b[31mAssertionError\x1b[0m\n"
                 "----> 3 assert f(2) == 4, 'f(2) should be 4'\n"
                 "      1 assert f(1) == 1\n")
    out = scrub(traceback, hidden)
    assert "f(2)" not in out and HIDDEN_NOTE in out
    assert "assert f(1) == 1" in out and "AssertionError" in out and "\x1b" not in out
    assert scrub("", hidden) == ""
