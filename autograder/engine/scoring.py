"""Pure scoring rules: how one cell's outcome becomes points.

These follow nbgrader's ``determine_grade`` so an honest submission gets
exactly nbgrader's score, with the deviations listed in the README:
* stderr output does not zero a passing test (nbgrader zeroes it, so a torch
  warning would cost a correct answer);
* partial credit above the cell's maximum counts as the maximum (nbgrader
  raises and loses the whole notebook's grades).
"""
from __future__ import annotations


def partial_credit(text: str, max_points: float) -> float:
    """Points for a test cell whose last expression displayed ``text``.

    A single number between 0 and ``max_points`` is partial credit; anything
    that does not read as a number, or a negative number, is full marks.
    """
    if text is None:
        return max_points
    try:
        value = float(text.strip())
    except ValueError:
        return max_points
    if value != value:  # NaN: nbgrader's comparisons all fail, so it falls through to full marks
        return max_points
    if value < 0:
        return max_points
    return min(value, max_points)


def manual_cell_score(unchanged: bool) -> float | None:
    """An answer cell graded by hand: an untouched answer is 0, anything else waits for a person."""
    return 0.0 if unchanged else None
