"""`autograder feedback ASSIGNMENT`: one HTML page per student, no hidden tests.

``feedback/<student_id>/<assignment>/<notebook>.html`` shows a header (student,
assignment, status, score, late penalty, flags in plain words, override
reasons), a per-question score table, then every notebook cell in order: the
student's own source, its output, errors, inline plots, and each graded cell's
score. Markdown is rendered as Jupyter renders it (raw HTML in it shown as
text), code is highlighted. The page's words are in the course's language
(course.toml ``[course] language``: ``en`` or ``ru``); status and flag words
stay the closed English list of docs/contracts.md.

Hidden tests never reach a page, by cell and line identity, never by matching
a student's text:

* a locked cell (given code and text, tests) shows the *released* source of
  that grade_id, read from the assignment's grading kit (autograder/kits.py), never the run's source;
* a student's own cells (answers, free code, Markdown) are shown exactly as
  written: hidden tests were never in them, so a student's line that happens
  to read like a hidden one (``with torch.no_grad():``) is shown;
* the outputs of a test cell come from its visible part only (the kernel
  never has the hidden part; the judge's verdict never quotes it); as a
  second line of defence, any line of *that test cell's* output that is one
  of *that cell's* hidden lines is replaced by a note, and a page on which a
  test cell still shows one is not written (the student is reported as skipped).

One message per failure: a test's verdict is shown once. A crash is shown as
the ``crashed`` status; the ``attack`` flag is not shown for code that only
ended its own kernel.

Student output is untrusted: Jinja2 autoescaping is on, ``text/html`` results
are shown as escaped text, Markdown's raw HTML is escaped, and only base64
that decodes to a PNG is inlined. Scores come from
:func:`autograder.export.grade_rows`, the same numbers as the export.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from autograder.export import GradeRow, grade_rows
from autograder.kits import current_kit
from coursebase.files import write_atomic
from coursebase.layout import Course, CourseError
from coursebase.notebook import cell_text, split_hidden, strip_ansi
from coursebase.policy import load_policy
from coursebase.vocabulary import Flag, Status

TEMPLATES = Path(__file__).parent / "templates"
# IPython traceback gutters: "----> 3 ", "      2 ", "File <cell>:3"
_GUTTER = re.compile(r"^\s*(-*>\s*)?\d+\s")
# Hidden lines this long are also searched for inside other lines (tracebacks
# quote them with prefixes); shorter ones (")", "pass") only match whole lines.
_LONG = 10

# language -> phrase -> a phrase, or a table of phrases by status/flag/state word
WORDS: dict[str, dict[str, Any]] = {
    "ru": {
        "status": {
            Status.GRADED: "проверено",
            Status.TIMEOUT: "превышен лимит времени: баллы за ячейки, которые успели выполниться, сохранены, "
                            "остальные получили 0",
            Status.CRASHED: "ядро Python аварийно завершилось: баллы за ячейки до сбоя сохранены, остальные получили 0",
            Status.FAILED: "ноутбук не удалось прочитать или запустить, баллы не выставлены",
            Status.MISSING: "работа не сдана",
        },
        "flag": {
            Flag.LATE: "работа сдана после срока",
            Flag.TAMPERED: "ячейки с тестами были изменены; проверка шла по исходным тестам",
            Flag.ATTACK: "код пытался вмешаться в проверку; преподаватель увидит подробности",
            Flag.OVERRIDE: "преподаватель изменил оценку вручную",
            Flag.UNSANDBOXED: "проверка шла без изоляции",
            Flag.COPY: "работа совпадает с работой другого студента",
            Flag.IMPLAUSIBLE: "результат неправдоподобно высок",
        },
        "state": {"none": "нет оценки", "not_run": "не выполнялась", "passed": "пройдено",
                  "partial": "частично", "failed": "не пройдено"},
        "title": "Обратная связь", "student": "Студент", "assignment": "Задание", "status_label": "Статус",
        "points": "Баллы", "not_scored": "не выставлены", "of": "из", "for_solution": "за решение",
        "penalty": "штраф", "submitted": "Сдано", "late_penalty": "Штраф за опоздание", "late_by": "опоздание",
        "due": "срок", "flags": "Отметки", "changed": "Оценка изменена", "message": "Сообщение проверки",
        "per_question": "Баллы по вопросам", "question": "Вопрос", "result": "Итог",
        "changed_by_teacher": "изменено преподавателем", "notebook": "Ноутбук",
        "no_cells": "Вывод ячеек недоступен", "not_run_nb": "ноутбук не запускался", "test": "тест",
        "answer": "ваш ответ", "given": "дано", "visible_only": "Показан только открытый код теста; скрытые "
        "проверки не показываются.", "html_as_text": "HTML-вывод показан как текст:",
        "truncated": "Вывод ячейки был слишком длинным и обрезан.",
        "override_note": "Оценка изменена преподавателем", "plot": "график из ячейки",
        "not_png": "[изображение не показано: это не PNG]", "hidden": "⟨строка скрытого теста не показывается⟩",
        "cell_not_run": "ячейка не выполнялась: проверка остановилась раньше",
    },
    "en": {
        "status": {
            Status.GRADED: "graded",
            Status.TIMEOUT: "over the time limit: cells that ran keep their points, the rest scored 0",
            Status.CRASHED: "the Python kernel crashed: cells before the crash keep their points, the rest scored 0",
            Status.FAILED: "the notebook could not be read or run; no points were given",
            Status.MISSING: "not handed in",
        },
        "flag": {
            Flag.LATE: "handed in after the due date",
            Flag.TAMPERED: "test cells were edited; the original tests were used",
            Flag.ATTACK: "the code tried to interfere with grading; your instructor sees the details",
            Flag.OVERRIDE: "your instructor changed a score by hand",
            Flag.UNSANDBOXED: "graded without isolation",
            Flag.COPY: "the work matches another student's",
            Flag.IMPLAUSIBLE: "the result is implausibly high",
        },
        "state": {"none": "no score", "not_run": "not run", "passed": "passed", "partial": "partly",
                  "failed": "failed"},
        "title": "Feedback", "student": "Student", "assignment": "Assignment", "status_label": "Status",
        "points": "Points", "not_scored": "not given", "of": "of", "for_solution": "for the work",
        "penalty": "penalty", "submitted": "Handed in", "late_penalty": "Late penalty", "late_by": "late by",
        "due": "due", "flags": "Flags", "changed": "Scores changed", "message": "Grader's message",
        "per_question": "Points per question", "question": "Question", "result": "Result",
        "changed_by_teacher": "changed by your instructor", "notebook": "Notebook",
        "no_cells": "No cell output is available", "not_run_nb": "the notebook did not run", "test": "test",
        "answer": "your answer", "given": "given", "visible_only": "Only the visible test code is shown; "
        "hidden checks are not.", "html_as_text": "HTML output shown as text:",
        "truncated": "The cell's output was too long and was cut.",
        "override_note": "Score changed by your instructor", "plot": "plot from cell",
        "not_png": "[image not shown: not a PNG]", "hidden": "⟨hidden test line not shown⟩",
        "cell_not_run": "this cell did not run: grading stopped earlier",
    },
}
# The default course's words, kept for callers that import them.
STATUS_WORDS = WORDS["ru"]["status"]
FLAG_WORDS = WORDS["ru"]["flag"]
HIDDEN_NOTE = WORDS["ru"]["hidden"]
# Findings that only say the code ended its own kernel: the page shows `crashed`, not `attack`.
_CRASH_ONLY = ("kills or crashes its kernel", "broke the grading protocol")


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


def scrub(text: str, hidden: frozenset[str], note: str = HIDDEN_NOTE) -> str:
    """``text`` (a test cell's own output) with every line that quotes one of its hidden lines replaced by ``note``."""
    if not text:
        return ""
    text = strip_ansi(text)
    if not hidden:
        return text
    long_lines = [h for h in hidden if len(h) >= _LONG]
    out = []
    for line in text.splitlines(keepends=True):
        core = _GUTTER.sub("", line).strip()
        if core in hidden or line.strip() in hidden or any(h in line for h in long_lines):
            out.append(note + ("\n" if line.endswith("\n") else ""))
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




# ---------------------------------------------------------------- page data

@dataclass
class _Notebook:
    """What the gradebook and the release say about one assignment's notebook."""
    name: str
    hidden: dict[str, frozenset[str]]  # test grade_id -> its hidden lines not in its released source
    locked_source: dict[str, str]      # grade_id -> released (visible) source of locked cells
    tests: set[str]                    # grade_ids of autograder test cells
    answers: set[str]                  # grade_ids of solution cells


def _notebook_info(course: Course, assignment: str) -> _Notebook:
    """Cell roles and what students were shown, from the assignment's grading kit (the one the grader used)."""
    kit = current_kit(course, assignment)
    tests = {c.grade_id for c in kit.cells if c.grade and not c.solution}
    answers = {c.grade_id for c in kit.cells if c.solution}
    # what the student was given: the released source (hidden tests already cut by nbgrader)
    locked_source = {c.grade_id: c.visible_source for c in kit.cells if c.locked or c.grade_id in tests}
    hidden = {c.grade_id: hidden_lines([c.source], [c.visible_source]) for c in kit.cells if c.grade_id in tests}
    return _Notebook(Path(kit.notebook).stem, hidden, locked_source, tests, answers)


def render_markdown(text: str) -> Markup:
    """Markdown as Jupyter renders it (CommonMark with tables and strikethrough); raw HTML is escaped."""
    import mistune

    md = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])
    return Markup(md(text))


def render_code(text: str) -> Markup:
    """Python source highlighted as Jupyter does (Pygments); everything in it escaped."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return Markup(highlight(text, PythonLexer(stripnl=False), HtmlFormatter(nowrap=True)))


def _highlight_css() -> Markup:
    from pygments.formatters import HtmlFormatter

    return Markup(HtmlFormatter().get_style_defs(".highlight"))


def _cell_views(row: GradeRow, info: _Notebook, words: dict) -> list[CellView]:
    graded = {c.grade_id: c for c in row.cells}
    verdicts = {c.grade_id: c for c in (row.record.cells if row.record else [])}
    views = []
    for out in row.record.outputs if row.record else []:
        grade_id = out.grade_id
        cell_type = out.cell_type
        if grade_id in info.tests:
            role = "test"
        elif grade_id in info.locked_source:
            role = "given"
        elif grade_id in info.answers:
            role = "answer"
        else:
            role = "text" if cell_type != "code" else "code"
        source = info.locked_source[grade_id] if grade_id in info.locked_source else out.source
        hidden = info.hidden.get(grade_id or "", frozenset()) if role == "test" else frozenset()

        def shown(text, hidden=hidden):
            return scrub(text, hidden, words["hidden"]) if hidden else strip_ansi(text or "")

        view = CellView(
            index=out.index, cell_type=cell_type, role=role, grade_id=grade_id,
            source=source, stdout=shown(out.stdout), stderr=shown(out.stderr),
            error=shown(out.error), truncated=out.truncated)
        for result in out.results:
            if "image/png" in result:
                png = _png(result["image/png"])
                view.results.append(Result("image", png) if png else Result("text", words["not_png"]))
            elif "text/plain" in result:
                view.results.append(Result("text", shown(cell_text(result["text/plain"]))))
            elif "text/html" in result:
                view.results.append(Result("html", shown(cell_text(result["text/html"]))))
        if grade_id in graded:
            cell = graded[grade_id]
            view.score, view.max_score = cell.score, cell.max_score
            view.override_reason = cell.override_reason
            verdict = verdicts.get(grade_id)
            if verdict is not None:
                if not verdict.ran:
                    view.note = words["cell_not_run"]
                elif verdict.error and verdict.error.strip() not in view.error:
                    view.note = shown(verdict.error)   # one message per failure: not when the error says it
        views.append(view)
    return views


def _days(n: int, language: str) -> str:
    if language == "en":
        return f"{n} day{'s' if n != 1 else ''}"
    if n % 10 == 1 and n % 100 != 11:
        return f"{n} день"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{n} дня"
    return f"{n} дней"


def _page_flags(row: GradeRow) -> dict[Flag, str]:
    """The row's flags as a student sees them: a crash is the status, not an `attack`."""
    flags = dict(row.flags)
    attack = flags.get(Flag.ATTACK)
    if attack is not None and row.status == Status.CRASHED:
        parts = [p for p in attack.split("; ") if p.strip()]
        if all(any(words in p for words in _CRASH_ONLY) for p in parts):
            del flags[Flag.ATTACK]
    return flags


def page_context(row: GradeRow, info: _Notebook, language: str = "ru") -> dict:
    """Everything the template shows for one row (pure)."""
    words = WORDS[language]
    # late and override have their own lines below; repeating their details here only adds noise
    flags = [(name, words["flag"].get(name, name), "" if name in (Flag.LATE, Flag.OVERRIDE) else (detail or ""))
             for name, detail in _page_flags(row).items()]
    late = None
    if row.lateness.late:
        late = {"days": _days(row.lateness.days_late, language), "penalty": row.lateness.penalty,
                "due": row.due.strftime("%Y-%m-%d %H:%M UTC") if row.due else ""}
    verdicts = {c.grade_id: c for c in (row.record.cells if row.record else [])}
    questions = []
    for cell in row.cells:
        verdict = verdicts.get(cell.grade_id)
        if cell.score is None:
            state = "none"
        elif verdict is not None and not verdict.ran:
            state = "not_run"
        elif cell.score >= cell.max_score:
            state = "passed"
        elif cell.score > 0:
            state = "partial"
        else:
            state = "failed"
        questions.append({"grade_id": cell.grade_id, "score": cell.score, "max_score": cell.max_score,
                          "state": words["state"][state], "override_reason": cell.override_reason})
    message = row.record.message if row.record is not None else ""
    return {
        "t": words, "language": language, "highlight_css": _highlight_css(),
        "student_id": row.student_id, "student_name": row.student_name, "assignment": row.assignment,
        "notebook": info.name, "status": row.status.value, "status_words": words["status"][row.status],
        "raw_score": row.raw_score, "score": row.score, "max_score": row.max_score, "late": late,
        "submitted_at": row.submitted_at.strftime("%Y-%m-%d %H:%M UTC") if row.submitted_at else None,
        "flags": flags, "overrides": [q for q in questions if q["override_reason"]],
        "questions": questions, "message": message,
        "cells": _cell_views(row, info, words),
    }


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["points"] = lambda v: "—" if v is None else f"{v:g}"
    env.filters["markdown"] = render_markdown
    env.filters["code"] = render_code
    return env


def render_page(row: GradeRow, info: _Notebook, language: str = "ru") -> str:
    return _environment().get_template("feedback.html.j2").render(**page_context(row, info, language))


def _leaks(views: list[CellView], info: _Notebook) -> list[str]:
    """Hidden lines a test cell would still show (its own, by identity): the last check before writing."""
    found: list[str] = []
    for view in views:
        hidden = info.hidden.get(view.grade_id or "", frozenset()) if view.role == "test" else frozenset()
        texts = [view.source, view.stdout, view.stderr, view.error, view.note] + [r.data for r in view.results]
        for text in texts:
            lines = {_GUTTER.sub("", line).strip() for line in (text or "").splitlines()}
            found.extend(h for h in hidden if h in lines or (len(h) >= _LONG and h in (text or "")))
    return sorted(set(found))


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
    language = load_policy(course.root).language
    result = FeedbackResult()
    for row in rows:
        if row.status == Status.MISSING:
            result.skipped[row.student_id] = "nothing submitted"
            continue
        if row.record is None and row.raw_score is None:
            # collected, never graded: a page now would only say "failed" for our delay
            result.skipped[row.student_id] = row.message
            continue
        leaked = _leaks(_cell_views(row, info, WORDS[language]), info)
        if leaked:
            # Cannot happen unless scrubbing missed a form; refuse rather than leak.
            result.skipped[row.student_id] = f"page withheld: it would show {len(leaked)} hidden-test line(s)"
            continue
        page = render_page(row, info, language)
        target = course.feedback / row.student_id / assignment / f"{info.name}.html"
        write_atomic(target, page)
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
