"""coursebase/histogram.py: the one histogram of every report, and who draws with it.

Real matplotlib, real PNG bytes: the size of the image is read from its header, and
what is drawn is told apart by comparing the pictures of different inputs.
"""
from __future__ import annotations

import ast
import base64
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from coursebase.histogram import Line, Series, histogram_png
from finalgrades.combine import Component, combine
from finalgrades.report import final_histogram, score_histogram
from leaderboard.report import histogram_png as accuracy_histogram

ROOT = Path(__file__).resolve().parents[1]
BASIC = dict(bins=10, span=(0.0, 100.0), title="t", xlabel="x")


def png_size(b64: str) -> tuple[int, int]:
    data = base64.b64decode(b64, validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_a_png_of_the_asked_size_the_same_bytes_every_time():
    series = [Series([10, 20, 20, 95], "#4a7ebb", "graded (4)"), Series([50], "#e0a030", "timeout (1)")]
    first = histogram_png(series, size=(5.2, 2.6), **BASIC)
    assert png_size(first) == (520, 260)
    assert histogram_png(series, size=(5.2, 2.6), **BASIC) == first          # reproducible


def test_what_is_drawn_changes_the_picture():
    one = histogram_png([Series([10, 20], "#4a7ebb")], **BASIC)
    assert histogram_png([Series([10, 80], "#4a7ebb")], **BASIC) != one             # the values
    assert histogram_png([Series([10, 20], "#c0392b")], **BASIC) != one             # the colour
    assert histogram_png([Series([10, 20], "#4a7ebb")], lines=[Line(50, "#c0392b", label="≥50")], **BASIC) != one
    nothing = histogram_png([Series([], "#4a7ebb")], **BASIC)
    assert histogram_png([Series([], "#4a7ebb")], empty="no scored submissions yet", **BASIC) != nothing


@pytest.mark.parametrize("text", ["$\\undefinedcommand$", "$\\frac{$", "50$ and 60$", "<script>alert(1)</script>"])
def test_any_text_is_drawn_literally_never_parsed_as_math(text):
    # matplotlib reads $...$ as math and raises on what it cannot parse; a name must never break a report
    image = histogram_png([Series([1.0], "#4a7ebb", text)], bins=3, span=(0.0, 3.0), title=text, xlabel=text,
                          lines=[Line(1.5, "#555", ":", text, label_at_top=False)], note=text, empty=text)
    assert png_size(image) == (700, 260)


def test_the_leaderboard_and_the_course_report_draw_with_it():
    lb = accuracy_histogram([0.81, 0.86, 0.9], [(0.85, 7.0), (0.88, 10.0)], [("logistic regression", 0.84)],
                            "Private accuracy", 2.0)
    assert png_size(lb) == (800, 320)
    assert accuracy_histogram([], [(0.85, 7.0)], [], "Private accuracy", 2.0) != \
        accuracy_histogram([0.86], [(0.85, 7.0)], [], "Private accuracy", 2.0)
    grades = [combine(f"s{i}", "", [Component("a1", status, score, 10.0)], {"a1": 1})
              for i, (status, score) in enumerate([("graded", 10.0), ("timeout", 3.0), ("missing", None)])]
    parts = [g.part("a1") for g in grades]
    assert png_size(score_histogram(parts, "a1")) == (520, 260)
    # a part without a score is not drawn as a zero: it is counted in the title ("not drawn: 1 missing")
    assert score_histogram(parts[:2], "a1") != score_histogram(parts, "a1")
    assert score_histogram(parts, "a1") == score_histogram(parts[:2], "a1  (not drawn: 1 missing)")
    assert png_size(final_histogram(grades)) == (700, 260)


def test_importing_the_reports_loads_no_matplotlib():
    code = ("import sys, coursebase.histogram, finalgrades.report, finalgrades.command, leaderboard.report; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def _imports_matplotlib(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if any(name.split(".")[0] == "matplotlib" for name in names):
            return True
    return False


def test_one_module_draws_every_report_picture():
    """Only the histogram helper imports matplotlib (the engine's fork server imports it for the
    students' own plots, which is not drawing a report)."""
    drawing = sorted(str(p.relative_to(ROOT)) for package in ("coursebase", "autograder", "leaderboard",
                                                              "finalgrades", "portal", "classroom")
                     for p in (ROOT / package).rglob("*.py")
                     if "engine" not in p.relative_to(ROOT).parts and _imports_matplotlib(p))
    assert drawing == ["coursebase/histogram.py"]
