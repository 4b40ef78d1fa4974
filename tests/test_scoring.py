"""autograder/engine/scoring.py: nbgrader's rule for a test cell's value, and manual cells.

Fast tier: pure functions, no kernel.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.engine.scoring import manual_cell_score, partial_credit


@pytest.mark.parametrize("text, expected", [
    ("0", 0.0),            # a test that displays 0 earns nothing
    ("0.0", 0.0),
    ("1.5", 1.5),          # partial credit between 0 and the maximum
    ("  2.25\n", 2.25),    # surrounding whitespace does not matter
    ("3", 3.0),            # exactly the maximum
    ("1e0", 1.0),
])
def test_a_number_in_range_is_partial_credit(text, expected):
    assert partial_credit(text, 3.0) == expected


def test_a_number_above_the_maximum_counts_as_the_maximum():
    # nbgrader raises here and loses the notebook's grades; the README lists this deviation
    assert partial_credit("7", 3.0) == 3.0
    assert partial_credit("inf", 3.0) == 3.0


@pytest.mark.parametrize("text", [
    "None", "True", "'ok'", "tensor(0.5000)", "array([1, 2])", "", "   ", "1/2", "nan", "NaN", "-1", "-0.5",
    "-inf",
])
def test_anything_else_is_full_marks(text):
    # not a number, NaN and negative numbers all fall through to full marks, as in nbgrader
    assert partial_credit(text, 4.0) == 4.0


def test_no_displayed_value_is_full_marks():
    assert partial_credit(None, 2.0) == 2.0


def test_zero_is_zero_and_not_full_marks():
    # the one case most likely to be broken by a truthiness check
    assert partial_credit("0", 5.0) == 0.0
    assert partial_credit("-0.0", 5.0) == 0.0


@given(value=st.floats(allow_nan=True, allow_infinity=True), max_points=st.floats(0, 100))
def test_credit_is_always_between_0_and_the_maximum(value, max_points):
    credit = partial_credit(repr(value), max_points)
    assert 0.0 <= credit <= max_points
    if math.isfinite(value) and 0 <= value <= max_points:
        assert credit == value


def test_manual_cell_untouched_is_zero_answered_waits_for_a_person():
    assert manual_cell_score(True) == 0.0
    assert manual_cell_score(False) is None
