"""Every leaderboard output read back with the standard readers: hostile ids and names come back as
text, never as a spreadsheet formula, Markdown markup or HTML."""
from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pandas as pd
import pytest
from leaderboard_corpus.build import at, make_course

from coursebase.spreadsheet import spreadsheet_cell
from leaderboard import api
from leaderboard.cli import main
from leaderboard.report import md_cell

HOSTILE_IDS = ['=HYPERLINK("evil.example?q","x")', "+1+2", "-3+4", "@SUM(A1)", "<img src=x onerror=alert(1)>",
               "<script>alert(1)<", "a|b", "**bold**[x](y)"]
BASELINE = "<script>alert('b')</script> | [link](javascript:x)"


@pytest.mark.parametrize("value, shown", [
    ("=1+2", "'=1+2"), ("+1+2", "'+1+2"), ("-1+1", "'-1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("-0.5", "-0.5"), ("+3", "+3"), ("1e-3", "1e-3"), ("s017", "s017"), ("", ""), (None, ""),
])
def test_owasp_rule(value, shown):
    assert spreadsheet_cell(value) == shown


class _Html(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("out")
    course = make_course(tmp / "c", n_test=50, pseudonyms=False)
    for k, student in enumerate(HOSTILE_IDS):
        course.submit(student, course.predictions_with_accuracy(20 + k, 10, k), at(1, 10 + k))
    api.add_baseline(course.root, BASELINE, public=0.8, private=0.8)
    run = api.score(course.root, out_dir=tmp / "out")
    grades = tmp / "grades.csv"
    assert main(["grades", "--course", str(course.root), "--out", str(grades)]) == 0
    return run.reports, grades, course.root


def test_leaderboard_csv_reads_back_with_csv_and_pandas(reports):
    paths, _, _ = reports
    text = paths.csv.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    frame = pd.read_csv(paths.csv, dtype=str, keep_default_na=False)
    assert list(frame["student_id"]) == [r["student_id"] for r in rows]
    for shown in frame["student_id"]:
        assert not shown.startswith(("=", "+", "-", "@")), shown
    original = {s.removeprefix("'") for s in frame["student_id"]}
    assert original == set(HOSTILE_IDS)
    assert "'=HYPERLINK(\"evil.example?q\",\"x\")" in set(frame["student_id"])


def test_grades_export_is_neutralised_too(reports):
    _, grades, _ = reports
    frame = pd.read_csv(grades, dtype=str, keep_default_na=False)
    assert {s.removeprefix("'") for s in frame["student_id"]} == set(HOSTILE_IDS)
    assert not any(s.startswith(("=", "+", "-", "@")) for s in frame["student_id"])


@pytest.mark.parametrize("name", ["markdown", "public_markdown"])
def test_markdown_has_no_html_and_no_markup(reports, name):
    text = getattr(reports[0], name).read_text(encoding="utf-8")
    assert "<script" not in text and "<img" not in text and "](" not in text
    if name == "markdown":
        assert "&lt;img src\\=x onerror\\=alert\\(1\\)&gt;" in text
        assert "a\\|b" in text
    assert "&lt;script&gt;alert\\(\\'b\\'\\)&lt;\\/script&gt;" in text
    # Every table row keeps its column count: no cell broke out with a raw '|'.
    rows = [line for line in text.splitlines() if line.startswith("|")]
    widths = {len(line.replace("\\|", "").split("|")) for line in rows}
    assert len(widths) == 1


@pytest.mark.parametrize("name", ["public_html", "instructor_html"])
def test_html_shows_the_names_as_text(reports, name):
    page = _Html()
    page.feed(getattr(reports[0], name).read_text(encoding="utf-8"))
    assert {tag for tag, _ in page.tags} <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p",
                                             "b", "img", "table", "tr", "th", "td", "span", "code"}
    assert all(attrs.get("class") == "hist" for tag, attrs in page.tags if tag == "img")
    text = "".join(page.text)
    assert BASELINE in text
    if name == "instructor_html":
        assert "<img src=x onerror=alert(1)>" in text


def test_md_cell_escapes_every_markup_character():
    assert md_cell("a<b>&c|d\ne*f_g") == "a&lt;b&gt;&amp;c\\|d e\\*f\\_g"


def test_histogram_is_well_formed_svg_with_one_bar_per_filled_bin(reports):
    import base64
    import re
    import xml.etree.ElementTree as ET

    page = reports[0].instructor_html.read_text(encoding="utf-8")
    data = re.search(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    svg = ET.fromstring(base64.b64decode(data))            # parses: every name was XML-escaped
    texts = ["".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert any(BASELINE[:20] in t for t in texts)
    bars = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.get("fill") == "#4a7ebb"]
    assert 1 <= len(bars) <= len(HOSTILE_IDS)
    assert not list(svg.iter("{http://www.w3.org/2000/svg}script"))


def test_terminal_tables_show_markup_as_text(reports, capsys):
    course = reports[2]
    capsys.readouterr()
    assert main(["show", "--instructor", "--course", str(course)]) == 0
    out = capsys.readouterr().out
    assert "**bold**[x](y)" in out and "<script>alert(1)<" in out
    assert main(["show", "--course", str(course)]) == 0
    assert "[link](javascript:x)" in capsys.readouterr().out      # the baseline's name, as typed
