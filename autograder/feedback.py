"""`autograder feedback ASSIGNMENT`: one HTML page per student, no hidden tests.

``feedback/<student_id>/<assignment>/<notebook>.html`` shows a header (student,
assignment, status, score, late penalty, flags in plain words, override
reasons), a per-question score table, then every notebook cell in order: the
student's own source, its output, errors, inline plots, and each graded cell's
score. The page is for students, so its words are Russian (the course's
language); status and flag words stay the closed English list of FLOW.md.

Hidden tests never reach a page, by construction and by check:

* a locked cell (given code, tests) shows the *released* source, read from
  ``release/<assignment>/``, never the run record's source;
* every text shown (sources, stdout, stderr, tracebacks, results) is scrubbed
  line by line against the hidden-test lines of the gradebook's source cells
  (the ``BEGIN/END HIDDEN TESTS`` blocks nbgrader keeps there), so a traceback
  from a hidden assertion cannot quote it;
* the rendered page is checked once more for any of those lines; a page that
  still contains one is not written (the student is reported as skipped).

Student output is untrusted: Jinja2 autoescaping is on, ``text/html`` results
are shown as escaped text, and only base64 that decodes to a PNG is inlined.
Scores come from :func:`autograder.export.grade_rows`, the same numbers as
the export.
"""
from __future__ import annotations

import base64
import binascii
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .course import Course, CourseError
from .export import GradeRow, grade_rows
from .gradebook import open_gradebook

TEMPLATES = Path(__file__).parent / "templates"
HIDDEN_NOTE = "⟨строка скрытого теста не показывается⟩"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# IPython traceback gutters: "----> 3 ", "      2 ", "File <cell>:3"
_GUTTER = re.compile(r"^\s*(-*>\s*)?\d+\s")
_BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
_END_HIDDEN = "END HIDDEN TESTS"
# Hidden lines this long are also searched for inside other lines (tracebacks
# quote them with prefixes); shorter ones (")", "pass") only match whole lines.
_LONG = 10

STATUS_WORDS = {
    "graded": "проверено",
    "timeout": "превышен лимит времени: баллы за ячейки, которые успели выполниться, сохранены, "
               "остальные получили 0",
    "crashed": "ядро Python аварийно завершилось: баллы за ячейки до сбоя сохранены, остальные получили 0",
    "failed": "ноутбук не удалось прочитать или запустить, баллы не выставлены",
    "missing": "работа не сдана",
}
FLAG_WORDS = {
    "late": "работа сдана после срока",
    "tampered": "ячейки с тестами были изменены; проверка шла по исходным тестам",
    "attack": "код пытался вмешаться в проверку; преподаватель увидит подробности",
    "override": "преподаватель изменил оценку вручную",
    "unsandboxed": "проверка шла без изоляции",
    "copy": "работа совпадает с работой другого студента",
    "implausible": "результат неправдоподобно высок",
}


@dataclass
class Result:
    kind: str          # text | image | html
    data: str


@dataclass
class CellView:
    index: int
    cell_type: str     # markdown | code
    role: str          # text | given | test | answer | code
    grade_id: str | None
    source: str
    stdout: str = ""
    stderr: str = ""
    error: str = ""
    results: list[Result] = field(default_factory=list)
    truncated: bool = False
    score: float | None = None
    max_score: float | None = None
    note: str = ""             # the one-line verdict of a graded cell
    override_reason: str | None = None


@dataclass
class FeedbackResult:
    written: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- hidden tests (pure)

def split_hidden(source: str) -> tuple[str, list[str]]:
    """(visible part, hidden lines) of a test cell source, as nbgrader's ClearHiddenTests cuts it."""
    visible, hidden, inside = [], [], False
    for line in source.splitlines():
        if _BEGIN_HIDDEN in line:
            inside = True
            hidden.append(line)
        elif _END_HIDDEN in line:
            inside = False
            hidden.append(line)
        elif inside:
            hidden.append(line)
        else:
            visible.append(line)
    return "\n".join(visible), hidden


def hidden_lines(gradebook_sources: list[str], visible_sources: list[str]) -> frozenset[str]:
    """Stripped hidden-test lines that never appear in what students were given."""
    shown = {line.strip() for source in visible_sources for line in source.splitlines()}
    found = set()
    for source in gradebook_sources:
        for line in split_hidden(source)[1]:
            core = line.strip()
            if core and core not in shown:
                found.add(core)
    return frozenset(found)


def scrub(text: str, hidden: frozenset[str]) -> str:
    """``text`` with every line that quotes a hidden-test line replaced by a note."""
    if not text:
        return ""
    text = _ANSI.sub("", text)
    if not hidden:
        return text
    long_lines = [h for h in hidden if len(h) >= _LONG]
    out = []
    for line in text.splitlines(keepends=True):
        core = _GUTTER.sub("", line).strip()
        if core in hidden or line.strip() in hidden or any(h in line for h in long_lines):
            out.append(HIDDEN_NOTE + ("\n" if line.endswith("\n") else ""))
        else:
            out.append(line)
    return "".join(out)


def _png(data) -> str | None:
    """The base64 text if it really is a PNG, else None (never inlined)."""
    if isinstance(data, list):
        data = "".join(data)
    if not isinstance(data, str):
        return None
    compact = re.sub(r"\s+", "", data)
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return compact if raw.startswith(b"\x89PNG\r\n\x1a\n") else None


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return "" if value is None else str(value)


# ---------------------------------------------------------------- page data

@dataclass
class _Notebook:
    """What the gradebook and the release say about one assignment's notebook."""
    name: str
    hidden: frozenset[str]
    locked_source: dict[str, str]      # grade_id -> released (visible) source of locked cells
    tests: set[str]                    # grade_ids of autograder test cells
    answers: set[str]                  # grade_ids of solution cells


def _notebook_info(course: Course, assignment: str) -> _Notebook:
    import nbformat

    with open_gradebook(course.db_url) as gb:
        found = gb.find_assignment(assignment)
        notebooks = sorted(found.notebooks, key=lambda n: n.name)
        if len(notebooks) != 1:
            raise CourseError(f"{assignment} has {len(notebooks)} notebooks in the gradebook; "
                              f"feedback expects one per assignment")
        nb = notebooks[0]
        sources = {c.name: (c.source or "", bool(c.locked)) for c in nb.source_cells}
        answers = {c.name for c in nb.solution_cells}
        tests = {c.name for c in nb.grade_cells if c.name not in answers}
        name = nb.name

    released: dict[str, str] = {}
    release_file = course.release / assignment / f"{name}.ipynb"
    if release_file.exists():
        for cell in nbformat.read(release_file, as_version=4).cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id:
                released[grade_id] = _text(cell.get("source"))
    locked_source = {}
    for grade_id, (source, locked) in sources.items():
        if locked or grade_id in tests:
            # What the student was given; without a release folder, cut it as nbgrader does.
            locked_source[grade_id] = released.get(grade_id, split_hidden(source)[0])
    hidden = hidden_lines([s for s, _ in sources.values()], list(released.values()))
    return _Notebook(name, hidden, locked_source, tests, answers)


def _cell_views(row: GradeRow, info: _Notebook) -> list[CellView]:
    graded = {c.grade_id: c for c in row.cells}
    verdicts = {c.grade_id: c for c in (row.record.cells if row.record else [])}
    views = []
    for position, out in enumerate(row.record.outputs if row.record else []):
        grade_id = out.get("grade_id")
        cell_type = out.get("cell_type", "code")
        if grade_id in info.tests:
            role = "test"
        elif grade_id in info.locked_source:
            role = "given"
        elif grade_id in info.answers:
            role = "answer"
        else:
            role = "text" if cell_type != "code" else "code"
        if grade_id in info.locked_source:
            source = info.locked_source[grade_id]
        else:
            source = _text(out.get("source"))
        view = CellView(
            index=int(out.get("index", position)), cell_type=cell_type, role=role, grade_id=grade_id,
            source=scrub(source, info.hidden), stdout=scrub(_text(out.get("stdout")), info.hidden),
            stderr=scrub(_text(out.get("stderr")), info.hidden),
            error=scrub(_text(out.get("error")), info.hidden), truncated=bool(out.get("truncated")))
        for result in out.get("results") or []:
            if not isinstance(result, dict):
                continue
            if "image/png" in result:
                png = _png(result["image/png"])
                view.results.append(Result("image", png) if png else
                                    Result("text", "[изображение не показано: это не PNG]"))
            elif "text/plain" in result:
                view.results.append(Result("text", scrub(_text(result["text/plain"]), info.hidden)))
            elif "text/html" in result:
                view.results.append(Result("html", scrub(_text(result["text/html"]), info.hidden)))
        if grade_id in graded:
            cell = graded[grade_id]
            view.score, view.max_score = cell.score, cell.max_score
            view.override_reason = cell.override_reason
            verdict = verdicts.get(grade_id)
            if verdict is not None:
                if not verdict.ran:
                    view.note = "ячейка не выполнялась: проверка остановилась раньше"
                elif verdict.error:
                    view.note = scrub(verdict.error, info.hidden)
        views.append(view)
    return views


def _days(n: int) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return f"{n} день"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{n} дня"
    return f"{n} дней"


def page_context(row: GradeRow, info: _Notebook) -> dict:
    """Everything the template shows for one row (pure)."""
    # late and override have their own lines below; repeating their details here only adds noise
    flags = [(name, FLAG_WORDS.get(name, name),
              "" if name in ("late", "override") else scrub(detail or "", info.hidden))
             for name, detail in row.flags.items()]
    late = None
    if row.lateness.late:
        late = {"days": _days(row.lateness.days_late), "penalty": row.lateness.penalty,
                "due": row.due.strftime("%Y-%m-%d %H:%M UTC") if row.due else ""}
    verdicts = {c.grade_id: c for c in (row.record.cells if row.record else [])}
    questions = []
    for cell in row.cells:
        verdict = verdicts.get(cell.grade_id)
        if cell.score is None:
            state = "нет оценки"
        elif verdict is not None and not verdict.ran:
            state = "не выполнялась"
        elif cell.score >= cell.max_score:
            state = "пройдено"
        elif cell.score > 0:
            state = "частично"
        else:
            state = "не пройдено"
        questions.append({"grade_id": cell.grade_id, "score": cell.score, "max_score": cell.max_score,
                          "state": state, "override_reason": cell.override_reason})
    message = row.record.message if row.record is not None else ""
    return {
        "student_id": row.student_id, "student_name": row.student_name, "assignment": row.assignment,
        "notebook": info.name, "status": row.status.value, "status_words": STATUS_WORDS[row.status.value],
        "raw_score": row.raw_score, "score": row.score, "max_score": row.max_score, "late": late,
        "submitted_at": row.submitted_at.strftime("%Y-%m-%d %H:%M UTC") if row.submitted_at else None,
        "flags": flags, "overrides": [q for q in questions if q["override_reason"]],
        "questions": questions, "message": scrub(message, info.hidden),
        "cells": _cell_views(row, info),
    }


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["points"] = lambda v: "—" if v is None else f"{v:g}"
    return env


def render_page(row: GradeRow, info: _Notebook) -> str:
    return _environment().get_template("feedback.html.j2").render(**page_context(row, info))


def _leaks(page: str, hidden: frozenset[str]) -> list[str]:
    text = html.unescape(page)
    return [h for h in hidden if len(h) >= _LONG and h in text]


# ---------------------------------------------------------------- the command

def write_feedback(course: Course, assignment: str, students: list[str] | None = None,
                   *, show: bool = True) -> FeedbackResult:
    """Write the feedback pages of ``assignment`` (all rostered students, or ``students``).

    Students with nothing submitted, or whose submission was collected but not
    graded yet, get no page (reported in ``skipped``). Raises
    CourseError for an assignment or student the gradebook does not know.
    """
    if not course.gradebook_path.exists():
        raise CourseError(f"no gradebook at {course.gradebook_path}: nothing to give feedback on")
    rows = grade_rows(course, assignments=[assignment], students=students)
    info = _notebook_info(course, assignment)
    result = FeedbackResult()
    for row in rows:
        if row.status.value == "missing":
            result.skipped[row.student_id] = "nothing submitted"
            continue
        if row.record is None and row.raw_score is None:
            # collected, never graded: a page now would only say "failed" for our delay
            result.skipped[row.student_id] = row.message
            continue
        page = render_page(row, info)
        leaked = _leaks(page, info.hidden)
        if leaked:
            # Cannot happen unless scrubbing missed a form; refuse rather than leak.
            result.skipped[row.student_id] = f"page withheld: it would show {len(leaked)} hidden-test line(s)"
            continue
        target = course.feedback / row.student_id / assignment / f"{info.name}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, target)
        result.written[row.student_id] = target
    if show:
        from rich.console import Console
        from rich.markup import escape

        console = Console()
        console.print(f"feedback {escape(assignment)}: {len(result.written)} page(s) in "
                      f"{course.feedback}/<student>/{escape(assignment)}/{escape(info.name)}.html")
        for student, reason in result.skipped.items():
            console.print(f"  skipped {escape(student)}: {escape(reason)}")
    return result
