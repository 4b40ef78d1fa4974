"""Notebook text conventions every part shares (pure): a cell's source as one string,
terminal colours stripped, and nbgrader's solution and hidden-test markers.

nbgrader marks an answer with ``### BEGIN SOLUTION`` / ``### END SOLUTION`` and the tests
students must not see with ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``; a marker is
found anywhere in a line, as nbgrader's ``ClearSolutions`` and ``ClearHiddenTests`` find it.
This module is the one place those words are spelled: the release checks their balance, the
judge hides the lines of a failing hidden test, feedback never shows them.
"""
from __future__ import annotations

import re

BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
MARKER_PAIRS = ((BEGIN_SOLUTION, END_SOLUTION), (BEGIN_HIDDEN, END_HIDDEN))

# CSI sequences (colours, cursor moves) as IPython's tracebacks and progress bars print them
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def cell_text(source) -> str:
    """A notebook cell's source as one string (nbformat allows a list of lines or a string)."""
    if isinstance(source, list):
        return "".join(str(line) for line in source)
    return "" if source is None else str(source)


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def split_hidden(source: str) -> tuple[str, list[str]]:
    """(visible part, hidden lines) of a test cell source, as nbgrader's ClearHiddenTests cuts it."""
    visible, hidden, inside = [], [], False
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            inside = True
            hidden.append(line)
        elif END_HIDDEN in line:
            inside = False
            hidden.append(line)
        elif inside:
            hidden.append(line)
        else:
            visible.append(line)
    return "\n".join(visible), hidden


def hidden_line_numbers(source: str) -> set[int]:
    """1-based numbers of the lines inside hidden-test blocks, the markers included."""
    numbers, inside = set(), False
    for number, line in enumerate(source.splitlines(), 1):
        if BEGIN_HIDDEN in line:
            inside = True
        if inside:
            numbers.add(number)
        if END_HIDDEN in line:
            inside = False
    return numbers
