"""autograder/feedback.py: per-student HTML pages, student output escaped, hidden tests never shown."""
from __future__ import annotations

import base64
import re
import struct
import zlib

import pytest

from autograder.feedback import (
    HIDDEN_NOTE,
    hidden_lines,
    scrub,
    write_feedback,
)
from autograder.gradebook import open_gradebook
from autograder.override import override
from classroom.cli import main
from coursebase.layout import CourseError
from coursebase.notebook import split_hidden

try:   # the course builder lives with the export tests (same state the grade step leaves)
    from test_export import A, graded_cohort, make_course
except ImportError:  # pragma: no cover - tests/ imported as a package
    from tests.test_export import A, graded_cohort, make_course


def visible_text(page: str) -> str:
    """The page's text as a browser shows it (tags dropped, entities decoded)."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", page))


def tiny_png() -> str:
    """A real 1x1 PNG, base64, as a plot's image/png output would carry it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
    return base64.b64encode(raw).decode()


def leaky_outputs() -> list[dict]:
    """s001's per-cell outputs, written as carelessly as possible: the test cells'
    sources and a traceback quote the hidden tests. Feedback must not pass them on."""
    blank = {"stdout": "", "stderr": "", "error": "", "results": [], "truncated": False,
             "score": None, "max_score": None}
    return [
        {**blank, "index": 0, "cell_type": "markdown", "grade_id": "intro",
         "source": "# Демо\nНапишите `answer()`."},
        {**blank, "index": 1, "cell_type": "code", "grade_id": "answer",
         "source": "def answer():\n    return 42  # STUDENT-OWN-CODE",
         "stdout": "hello <script>alert('xss')</script>\n",
         "results": [{"image/png": tiny_png()}, {"text/html": "<b onmouseover=alert(1)>table</b>"},
                     {"image/png": "PHNjcmlwdD4="}]},
        {**blank, "index": 2, "cell_type": "code", "grade_id": "t1",
         "source": "assert answer() is not None\n### BEGIN HIDDEN TESTS\n"
                   "assert answer() == 42  # HIDDEN-MARKER-t1\n### END HIDDEN TESTS",
         "score": 2.0, "max_score": 2.0},
        {**blank, "index": 3, "cell_type": "code", "grade_id": "double",
         "source": "def double(x):\n    return x + x", "stderr": "UserWarning: NNPACK not supported\n"},
        {**blank, "index": 4, "cell_type": "code", "grade_id": "t2",
         "source": "print('visible check of double')\nassert double(1) == 2",
         "stdout": "visible check of double\n",
         "error": "\x1b[0;31mAssertionError\x1b[0m Traceback (most recent call last)\n"
                  "Cell In[5], line 4\n      2 assert double(1) == 2\n      3 ### BEGIN HIDDEN TESTS\n"
                  "\x1b[0;32m----> 4\x1b[0m assert double(21) == 42  # HIDDEN-MARKER-t2\n\nAssertionError: ",
         "score": 3.0, "max_score": 3.0},
    ]


@pytest.fixture
def course(tmp_path, tmp_path_factory):
    course = make_course(tmp_path, tmp_path_factory)
    graded_cohort(course, outputs=leaky_outputs())
    return course


def hidden_markers(course) -> set[str]:
    """The hidden-test marker strings, read from the gradebook's own source cells."""
    with open_gradebook(course.db_url) as gb:
        sources = [c.source for c in gb.find_notebook("demo", A).source_cells]
    markers = set(re.findall(r"HIDDEN-MARKER-\w+", "\n".join(sources)))
    assert markers == {"HIDDEN-MARKER-t1", "HIDDEN-MARKER-t2"}   # the gradebook does hold them
    return markers


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_pages_for_everyone_who_submitted_and_none_leaks_a_hidden_test(course):
    result = write_feedback(course, A)
    assert set(result.written) == {"s001", "s002", "s003", "s004"}
    assert result.skipped["s005"] == "nothing submitted"
    assert "not graded yet" in result.skipped["s006"]
    assert result.written["s001"] == course.feedback / "s001" / A / "demo.html"
    pages = sorted(course.feedback.rglob("*.html"))
    assert len(pages) == 4
    markers = hidden_markers(course)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for marker in markers:
            assert marker not in text, f"{page} shows hidden test {marker}"
        assert "BEGIN HIDDEN TESTS" not in text


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_page_shows_the_students_work_scores_and_visible_tests(course):
    page = write_feedback(course, A, students=["s001"]).written["s001"].read_text(encoding="utf-8")
    assert "STUDENT-OWN-CODE" in page
    assert "visible check of double" in page              # visible test source and its output
    assert "assert answer() is not None" in visible_text(page)   # highlighted, so tags in between
    assert "UserWarning: NNPACK not supported" in page      # stderr shown, not fatal
    assert HIDDEN_NOTE in page                              # the traceback line was replaced
    assert 'src="data:image/png;base64,' + tiny_png() + '"' in page
    assert "<strong>5 из 5</strong>" in page
    assert re.search(r"<td>t1</td><td>2 / 2</td>\s*<td>пройдено", page)


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_student_output_is_escaped_never_run(course):
    page = write_feedback(course, A, students=["s001"]).written["s001"].read_text(encoding="utf-8")
    assert "<script>" not in page and "<b onmouseover" not in page
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in page
    assert "&lt;b onmouseover=alert(1)&gt;table&lt;/b&gt;" in page
    # base64 that is not a PNG is not inlined
    assert "PHNjcmlwdD4=" not in page and "это не PNG" in page


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_header_shows_status_penalty_flags_and_override_reasons(course):
    override(course, "s002", A, "t2", 1.5, "идея верная, ошибка в индексе", show=False)
    pages = write_feedback(course, A, students=["s002", "s003", "s004"], show=False).written
    s2 = pages["s002"].read_text(encoding="utf-8")
    assert "опоздание 2 дня" in s2 and "−1" in s2
    assert "<strong>late</strong>: работа сдана после срока" in s2
    assert "<strong>override</strong>: преподаватель изменил оценку вручную" in s2
    assert "t2: 1.5 из 3 — идея верная, ошибка в индексе" in s2
    assert "<strong>2.5 из 5</strong>" in s2 and "3.5 за решение" in s2
    s3 = pages["s003"].read_text(encoding="utf-8")
    assert "<strong>timeout</strong>" in s3 and "test cell t1 was edited" in s3
    s4 = pages["s004"].read_text(encoding="utf-8")
    assert "<strong>failed</strong>" in s4 and "не выставлены" in s4 and "not valid JSON" in s4


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_cli_and_unknown_names(course, capsys):
    assert main(["--course", str(course.root), "feedback", A, "--student", "s003"]) == 0
    assert (course.feedback / "s003" / A / "demo.html").exists()
    assert not (course.feedback / "s001").exists()
    with pytest.raises(CourseError, match="not in the gradebook: s999"):
        write_feedback(course, A, students=["s999"])
    assert main(["--course", str(course.root), "feedback", "09_nope"]) == 2
    assert "assignment '09_nope' is not in the gradebook" in capsys.readouterr().err


def test_hidden_line_scrubbing_is_pure():
    source = "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n)\n### END HIDDEN TESTS"
    assert split_hidden(source)[0] == "assert f(1) == 1"
    hidden = hidden_lines([source], visible_sources=["assert f(1) == 1"])
    assert hidden == {"### BEGIN HIDDEN TESTS", "assert f(2) == 4", ")", "### END HIDDEN TESTS"}
    text = "ok line\n----> 3 assert f(2) == 4\nassert f(1) == 1\n)\n"
    assert scrub(text, hidden) == f"ok line\n{HIDDEN_NOTE}\nassert f(1) == 1\n{HIDDEN_NOTE}\n"


def _outputs_with(**changes) -> list[dict]:
    outputs = leaky_outputs()
    for index, fields in changes.items():
        outputs[int(index[1:])].update(fields)
    return outputs


def test_hidden_tests_are_hidden_by_cell_identity_not_by_text(tmp_path, tmp_path_factory):
    course = make_course(tmp_path, tmp_path_factory)
    # the student's own cell holds a line that reads exactly like a hidden test line, and prints it
    own = "def answer():\n    return 42\nassert double(21) == 42  # HIDDEN-MARKER-t2"
    graded_cohort(course, outputs=_outputs_with(c1={"source": own, "stdout": "assert double(21) == 42  # HIDDEN-MARKER-t2\n",
                                                     "results": []}))
    result = write_feedback(course, A, students=["s001"], show=False)
    page = visible_text(result.written["s001"].read_text(encoding="utf-8"))
    assert page.count("assert double(21) == 42  # HIDDEN-MARKER-t2") == 2     # source and output, as written
    assert "HIDDEN-MARKER-t1" not in page                                       # the tests' own stay hidden
    # the test cell's own output quoting its hidden line is still cut (second line of defence)
    assert HIDDEN_NOTE in page


def test_markdown_and_code_render_as_in_jupyter_and_stay_inert(tmp_path, tmp_path_factory):
    course = make_course(tmp_path, tmp_path_factory)
    outputs = leaky_outputs()
    outputs.append({"index": 5, "cell_type": "markdown", "grade_id": None, "stdout": "", "stderr": "", "error": "",
                    "results": [], "truncated": False, "score": None, "max_score": None,
                    "source": "## My notes\n- **bold** point\n\n<script>alert(1)</script>\n[x](javascript:alert(1))"})
    graded_cohort(course, outputs=outputs)
    page = write_feedback(course, A, students=["s001"], show=False).written["s001"].read_text(encoding="utf-8")
    assert "<h1>Демо</h1>" in page and "<code>answer()</code>" in page          # the released Markdown, rendered
    assert "<h2>My notes</h2>" in page and "<strong>bold</strong>" in page
    assert "<script>" not in page and "javascript:alert" not in page
    assert '<span class="k">def</span>' in page                                  # code highlighted


def test_one_message_per_failure_and_a_crash_is_not_an_attack(tmp_path, tmp_path_factory):
    import datetime as dt

    from coursebase.vocabulary import Status

    try:
        from test_export import record_run
    except ImportError:  # pragma: no cover
        from tests.test_export import record_run
    course = make_course(tmp_path, tmp_path_factory)
    outputs = _outputs_with(c4={"error": "AssertionError in a hidden test", "stdout": ""})
    record_run(course, "s001", Status.CRASHED, {"t1": 2.0, "t2": 0.0}, dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc),
               outputs=outputs, message="crashed: the kernel exited (os._exit)",
               flags={"attack": "cell 3: kills or crashes its kernel (`os._exit`)"})
    page = write_feedback(course, A, students=["s001"], show=False).written["s001"].read_text(encoding="utf-8")
    # record_run's verdict for t2 is "AssertionError"; the cell's own error already says it
    assert visible_text(page).count("AssertionError in a hidden test") == 1
    assert "<strong>crashed</strong>" in page and "<strong>attack</strong>" not in page


def test_the_page_language_comes_from_course_toml(tmp_path, tmp_path_factory):
    course = make_course(tmp_path, tmp_path_factory)
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text().replace('language = "ru"', 'language = "en"'))
    graded_cohort(course, outputs=leaky_outputs())
    page = write_feedback(course, A, students=["s002"], show=False).written["s002"].read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "Points per question" in page and "late by 2 days" in page
    assert "Баллы" not in page
    toml.write_text(toml.read_text().replace('language = "en"', 'language = "de"'))
    assert main(["--course", str(course.root), "feedback", A]) == 2
