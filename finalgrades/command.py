"""`autograder grades [--out FILE]`: final grades from every notebook and the leaderboard.

The core is :func:`combine`, a pure function: one student's components (each
assignment's score and the leaderboard points, with status, flags and late
penalty) and the course.toml weights in, a :class:`FinalGrade` out. Each part
counts as a share of its own maximum; the final grade is the weighted mean of
those shares, in percent.

Nothing is silently zero. A part with no score (``missing``, ``failed``, or a
leaderboard ``invalid`` / ``over_limit`` / ``missing``) counts as 0 in the total
and says so: its cell in the CSV holds the status word instead of a number and
the student's message names it. ``timeout`` and ``crashed`` notebooks keep the
points of the cells that ran.

The final status is one word:

* ``review``: some part carries a flag a person must look at (``attack``,
  ``tampered``, ``copy``, ``implausible``); the grade is computed anyway;
* ``incomplete``: some weighted part was not graded in full (any status other
  than ``graded`` for a notebook, ``scored`` for the leaderboard);
* ``complete``: everything graded, nothing flagged.

I/O lives at the edge (:func:`final_grades`): notebook rows come from
:func:`autograder.export.grade_rows` (so the numbers agree with
``autograder export``), the leaderboard from :func:`leaderboard.api.final_results`;
it writes ``exports/final_grades.csv`` and the self-contained HTML course report
``reports/course_report.html``, the LMS import files of :mod:`autograder.lms`
(``canvas_grades.csv``, ``moodle_grades.csv``, ``final_statuses.csv``), and prints the table.
"""
from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from coursebase.layout import Course, CourseError
from coursebase.policy import load_policy
from coursebase.spreadsheet import spreadsheet_row
from coursebase.vocabulary import REVIEW_FLAGS, Flag, Status, Word
from leaderboard.records import CsvStatus

LEADERBOARD = "leaderboard"
# a part graded in full: every cell of a notebook ran, a leaderboard file was scored
FULL_STATUSES: tuple[Word, ...] = (Status.GRADED, CsvStatus.SCORED)
NO_SCORE_WORDS: dict[Word, str] = {
    Status.MISSING: "nothing submitted",          # the leaderboard's missing is the same word
    Status.FAILED: "could not be graded",
    CsvStatus.INVALID: "no valid submission",
    CsvStatus.OVER_LIMIT: "over the daily limit, not scored",
}


class FinalStatus(Word):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    REVIEW = "review"


@dataclass(frozen=True)
class Component:
    """One graded part of one student's work, as plain data.

    ``score`` is what counts (after any late penalty), ``None`` when there is no
    score at all (missing, failed, invalid...). ``flags`` maps flag name to what
    was seen.
    """
    name: str                          # an assignment, or "leaderboard"
    status: Word                       # a Status (notebook) or CsvStatus (leaderboard) of docs/contracts.md
    score: float | None
    max_score: float
    raw_score: float | None = None     # before the late penalty
    late_penalty: float | None = None
    flags: dict[Flag, str] = field(default_factory=dict)
    message: str = ""
    accuracy: float | None = None      # leaderboard: the private accuracy that decided the points


@dataclass(frozen=True)
class Part:
    """A component weighed: its share of its maximum and what it adds to the final percent."""
    component: Component
    weight: float                      # as written in course.toml
    share: float                       # score / max_score in [0, 1]; 0 without a score
    percent: float                     # contribution to the final grade, in percentage points
    note: str                          # why it is not simply a full share ("" when nothing to say)

    @property
    def counted_as_zero(self) -> bool:
        return self.component.score is None


@dataclass(frozen=True)
class FinalGrade:
    student_id: str
    student_name: str
    parts: tuple[Part, ...]
    percent: float                     # 0..100
    status: FinalStatus
    message: str

    def part(self, name: str) -> Part:
        for part in self.parts:
            if part.component.name == name:
                return part
        raise KeyError(name)


def _fmt(value: float) -> str:
    return f"{round(value, 4):g}"


def _note(component: Component) -> str:
    c = component
    bits = []
    if c.score is None:
        words = NO_SCORE_WORDS.get(c.status, "no score")
        bits.append(f"{c.name} {c.status} ({words}): counted as 0")
    elif c.status not in FULL_STATUSES:
        bits.append(f"{c.name} {c.status}: {_fmt(c.score)}/{_fmt(c.max_score)} from the cells that ran")
    if c.late_penalty:
        bits.append(f"{c.name} late: -{_fmt(c.late_penalty)} points")
    for flag in c.flags:
        if flag in REVIEW_FLAGS:
            bits.append(f"{c.name} flagged {flag}: review")
    return "; ".join(bits)


def combine(student_id: str, student_name: str, components: list[Component],
            weights: dict[str, float]) -> FinalGrade:
    """Weigh one student's components into a :class:`FinalGrade` (pure).

    Every key of ``weights`` must name a component (ValueError otherwise, naming
    it); components without a weight are kept with weight 0. Weights must be
    non-negative with a positive sum. Each share is ``score / max_score``
    clipped to [0, 1]; a component without a score, or with a maximum of 0,
    has share 0. ``percent`` is the weighted mean of the shares times 100,
    rounded to 2 decimals.
    """
    by_name = {c.name: c for c in components}
    if len(by_name) != len(components):
        raise ValueError(f"{student_id}: two components have the same name")
    missing = [name for name in weights if name not in by_name]
    if missing:
        raise ValueError(f"{student_id}: weights name {', '.join(missing)}, but there is no such component "
                         f"(components: {', '.join(by_name) or 'none'})")
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must not be negative: {weights}")
    total = float(sum(weights.values()))
    if total <= 0:
        raise ValueError("the weights add up to 0: nothing would count")

    parts = []
    for component in components:
        weight = float(weights.get(component.name, 0.0))
        if component.score is None or component.max_score <= 0:
            share = 0.0
        else:
            share = min(max(component.score / component.max_score, 0.0), 1.0)
        note = _note(component)
        if component.score is not None and component.max_score <= 0:
            note = "; ".join(n for n in (note, f"{component.name} has no points to earn") if n)
        parts.append(Part(component, weight, share, 100.0 * weight * share / total, note))

    weighted = [p for p in parts if p.weight > 0]
    percent = round(sum(p.percent for p in weighted), 2)
    if any(flag in REVIEW_FLAGS for p in weighted for flag in p.component.flags):
        status = FinalStatus.REVIEW
    elif any(p.component.status not in FULL_STATUSES for p in weighted):
        status = FinalStatus.INCOMPLETE
    else:
        status = FinalStatus.COMPLETE
    message = "; ".join(p.note for p in parts if p.note)
    return FinalGrade(student_id, student_name, tuple(parts), percent, status, message)


# ================================================================== sources -> components

def notebook_component(row) -> Component:
    """A :class:`Component` from one :class:`autograder.export.GradeRow`."""
    return Component(name=row.assignment, status=row.status, score=row.score, max_score=row.max_score,
                     raw_score=row.raw_score, late_penalty=row.late_penalty, flags=dict(row.flags),
                     message=row.message)


def leaderboard_component(result, max_points: float) -> Component:
    """A :class:`Component` from a :class:`leaderboard.records.LeaderboardResult` (None: never scored)."""
    if result is None:
        return Component(LEADERBOARD, CsvStatus.MISSING, None, max_points, message="no leaderboard entry")
    scored = result.status == CsvStatus.SCORED
    return Component(name=LEADERBOARD, status=result.status, score=float(result.points) if scored else None,
                     max_score=float(result.max_points), raw_score=float(result.points) if scored else None,
                     flags={f: result.message or "see the leaderboard" for f in result.flags}, message=result.message,
                     accuracy=result.private_accuracy)


# ================================================================== the CSV (pure)

def _num(value: float | None) -> str:
    return "" if value is None else repr(round(float(value), 6))


def csv_columns(names: list[str]) -> list[str]:
    columns = ["student_id", "student_name"]
    for name in names:
        if name == LEADERBOARD:
            columns += [name, f"{name}:status", f"{name}:private_accuracy", f"{name}:max_points", f"{name}:flags"]
        else:
            columns += [name, f"{name}:status", f"{name}:raw_score", f"{name}:late_penalty",
                        f"{name}:max_score", f"{name}:flags"]
    return columns + ["final_percent", "final_status", "message"]


def render_csv(grades: list[FinalGrade], names: list[str]) -> str:
    """The final-grades CSV text (pure). A component's own column holds its score, or its
    status word when it has none: never an empty or silent 0."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_columns(names))
    for grade in grades:
        row = [grade.student_id, grade.student_name]
        for name in names:
            c = grade.part(name).component
            shown = c.status if c.score is None else _num(c.score)
            flags = ";".join(c.flags)
            if name == LEADERBOARD:
                row += [shown, c.status, _num(c.accuracy), _num(c.max_score), flags]
            else:
                row += [shown, c.status, _num(c.raw_score), _num(c.late_penalty), _num(c.max_score), flags]
        row += [f"{grade.percent:.2f}", grade.status.value, grade.message]
        writer.writerow(spreadsheet_row(row))
    return out.getvalue()


# ================================================================== the report

def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


STATUS_COLOURS = {Status.GRADED: "#4a7ebb", Status.TIMEOUT: "#e0a030", Status.CRASHED: "#c0392b"}


def score_histogram(parts: list[Part], title: str) -> str:
    """Base64 PNG: how the share of the maximum is spread, stacked by status; the parts
    without a score are counted in the title, not drawn as zeros."""
    from matplotlib.figure import Figure  # OO API: no global pyplot state, no display

    fig = Figure(figsize=(5.2, 2.6), dpi=100)
    ax = fig.add_subplot()
    stacks, labels, colours = [], [], []
    for status, colour in STATUS_COLOURS.items():
        values = [100 * p.share for p in parts if p.component.status == status and p.component.score is not None]
        if values:
            stacks.append(values)
            labels.append(f"{status} ({len(values)})")
            colours.append(colour)
    if stacks:
        ax.hist(stacks, bins=10, range=(0, 100), stacked=True, color=colours, label=labels, edgecolor="white")
        ax.legend(fontsize=7, loc="upper left")
    unscored: dict[str, int] = {}
    for p in parts:
        if p.component.score is None:
            unscored[p.component.status] = unscored.get(p.component.status, 0) + 1
    extra = ", ".join(f"{n} {s}" for s, n in sorted(unscored.items()))
    ax.set_title(title + (f"  (not drawn: {extra})" if extra else ""), fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the maximum (after late penalties)", fontsize=8)
    ax.set_ylabel("students", fontsize=8)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return _png(fig)


def final_histogram(grades: list[FinalGrade]) -> str:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7, 2.6), dpi=100)
    ax = fig.add_subplot()
    colours = {FinalStatus.COMPLETE: "#4a7ebb", FinalStatus.INCOMPLETE: "#e0a030", FinalStatus.REVIEW: "#c0392b"}
    stacks = [[g.percent for g in grades if g.status == s] for s in colours]
    ax.hist(stacks, bins=20, range=(0, 100), stacked=True, color=list(colours.values()), edgecolor="white",
            label=[f"{s} ({len(v)})" for s, v in zip(colours, stacks)])
    ax.legend(fontsize=7, loc="upper left")
    ax.set_xlim(0, 100)
    ax.set_xlabel("final grade, %", fontsize=8)
    ax.set_ylabel("students", fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Final grades", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path, start).replace(os.sep, "/")


def render_report(course: Course, grades: list[FinalGrade], names: list[str], policy, standings=None) -> str:
    """The course report's HTML (self-contained: inline CSS, base64 images, no scripts)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from leaderboard.report import histogram_png

    board = policy.leaderboard
    assignments = []
    for name in names:
        parts = [g.part(name) for g in grades]
        scored = [p for p in parts if p.component.score is not None]
        counts: dict[str, int] = {}
        for p in parts:
            counts[p.component.status] = counts.get(p.component.status, 0) + 1
        mean = sum(p.share for p in scored) / len(scored) if scored else None
        if name == LEADERBOARD:
            accuracies = [p.component.accuracy for p in parts if p.component.accuracy is not None]
            image = histogram_png(accuracies, board.thresholds, [], "Private accuracy of the submission that counts",
                                  board.floor_points)
        else:
            image = score_histogram(parts, name)
        assignments.append(dict(name=name, weight=parts[0].weight if parts else policy.weights.get(name, 0),
                                max_score=parts[0].component.max_score if parts else 0, counts=counts,
                                mean=mean, image=image,
                                flagged=sum(1 for p in parts if p.component.flags)))
    leaderboard_rows = sorted(
        (g for g in grades if LEADERBOARD in names),
        key=lambda g: (g.part(LEADERBOARD).component.accuracy is None,
                       -(g.part(LEADERBOARD).component.accuracy or 0.0), g.student_id))
    reports = course.reports
    links = {}
    for label, target in (("leaderboard (instructor)", reports / "leaderboard" / "leaderboard-instructor.html"),
                          ("leaderboard (public)", reports / "leaderboard" / "leaderboard-public.html"),
                          ("final grades CSV", course.exports / "final_grades.csv"),
                          ("per-assignment grades CSV", course.exports / "grades.csv")):
        if target.exists() or target.name == "final_grades.csv":
            links[label] = _relative(target, reports)
    feedback = {}
    for g in grades:
        for name in names:
            folder = course.feedback / g.student_id / name
            pages = sorted(folder.glob("*.html")) if folder.is_dir() else []
            if pages:
                feedback[(g.student_id, name)] = _relative(pages[0], reports)
    counts = {s.value: sum(1 for g in grades if g.status == s) for s in FinalStatus}
    env = Environment(loader=PackageLoader("autograder", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _fmt
    return env.get_template("course_report.html.j2").render(
        course_id=policy.course_id, generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        names=names, grades=grades, assignments=assignments, counts=counts,
        mean=(sum(g.percent for g in grades) / len(grades)) if grades else None,
        final_image=final_histogram(grades) if grades else None, leaderboard_rows=leaderboard_rows,
        has_leaderboard=LEADERBOARD in names, thresholds=board.thresholds,
        floor_points=board.floor_points, max_points=board.max_points, links=links, feedback=feedback,
        review_flags=REVIEW_FLAGS, full_statuses=FULL_STATUSES, late=Flag.LATE, leaderboard=LEADERBOARD)


# ================================================================== the command

@dataclass
class FinalGradesResult:
    csv: Path
    report: Path
    grades: list[FinalGrade]
    names: list[str]
    notes: list[str] = field(default_factory=list)
    lms: dict[str, Path] = field(default_factory=dict)   # canvas, moodle, statuses: see autograder/lms.py


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def collect_grades(course: Course) -> tuple[list[FinalGrade], list[str], list[str]]:
    """(final grades per rostered student, component names, notes) from the course's stores (read-only)."""
    from autograder.export import grade_rows
    from leaderboard.api import final_results

    if not course.gradebook_path.exists():
        raise CourseError(f"no gradebook at {course.gradebook_path}: release the assignments, import the roster "
                          f"and grade before computing final grades")
    policy = load_policy(course.root)
    weights = dict(policy.weights)
    rows = grade_rows(course)
    known = sorted({r.assignment for r in rows})
    where = policy.source or course.root / "course.toml"
    unknown = [n for n in weights if n != LEADERBOARD and n not in known]
    if unknown and rows:
        raise CourseError(f"{where}: [weights] names {', '.join(unknown)}, which the gradebook does not know "
                          f"(assignments: {', '.join(known) or 'none'}). Release it, or fix the weight's name.")
    notes = []
    names = [n for n in weights if n == LEADERBOARD or n in known]
    for name in known:
        if name not in weights:
            names.append(name)
            notes.append(f"{name} has no weight in {where} [weights]: shown, but it does not count")
    board = final_results(course.root) if LEADERBOARD in names else {}
    by_student: dict[str, list] = {}
    for row in rows:
        by_student.setdefault(row.student_id, []).append(row)
    outside = sorted(set(board) - set(by_student))
    if outside:
        notes.append(f"on the leaderboard but not on the roster (left out): {', '.join(outside)}")
    grades = []
    for student_id in sorted(by_student):
        student_rows = by_student[student_id]
        components = [notebook_component(r) for r in student_rows]
        if LEADERBOARD in names:
            components.append(leaderboard_component(board.get(student_id), policy.leaderboard.max_points))
        order = {n: i for i, n in enumerate(names)}
        components.sort(key=lambda c: order[c.name])
        grades.append(combine(student_id, student_rows[0].student_name, components,
                              {n: w for n, w in weights.items() if n in names}))
    return grades, names, notes


def final_grades(course: Course, out: Path | None = None, *, console=None, show: bool = True) -> FinalGradesResult:
    """Write ``exports/final_grades.csv`` (or ``out``) and ``reports/course_report.html``; print the table.

    Reads the gradebook, run records and leaderboard database; changes none of them.
    Raises CourseError when there is no gradebook or the weights name an unknown part.
    """
    grades, names, notes = collect_grades(course)
    policy = load_policy(course.root)
    csv_path = Path(out) if out is not None else course.exports / "final_grades.csv"
    _write(csv_path, render_csv(grades, names))
    report = course.reports / "course_report.html"
    _write(report, render_report(course, grades, names, policy))
    from autograder.lms import write_lms_files

    lms_files = write_lms_files(course, grades, names)
    result = FinalGradesResult(csv_path, report, grades, names, notes, lms_files)
    if show:
        print_table(result, policy, console)
    return result


def _short(name: str) -> str:
    head = name.split("_", 1)[0]
    return head if head.isdigit() else ("LB" if name == LEADERBOARD else name)


def short_notes(grade: FinalGrade) -> str:
    """The message in a few words per part, for the terminal (the CSV and the report have it whole)."""
    notes = []
    for part in grade.parts:
        c, name = part.component, _short(part.component.name)
        if c.score is None:
            notes.append(f"{name} {c.status} = 0")
        elif c.status not in FULL_STATUSES:
            notes.append(f"{name} {c.status}")
        if c.late_penalty:
            notes.append(f"{name} late -{_fmt(c.late_penalty)}")
        notes.extend(f"{name} {flag}" for flag in c.flags if flag in REVIEW_FLAGS)
    return ", ".join(notes)


def print_table(result: FinalGradesResult, policy, console=None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"Final grades ({len(result.grades)} students)")
    table.add_column("student")
    for name in result.names:
        weight = policy.weights.get(name, 0)
        table.add_column(f"{_short(name)}\n{weight:g}%", justify="right")
    table.add_column("final", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("notes", overflow="fold", ratio=1)
    colours = {FinalStatus.COMPLETE: "green", FinalStatus.INCOMPLETE: "yellow", FinalStatus.REVIEW: "red"}
    for grade in result.grades:
        cells = []
        for part in grade.parts:
            c = part.component
            if c.score is None:
                cells.append(f"[red]{c.status}[/red]")
                continue
            text = f"{_fmt(c.score)}/{_fmt(c.max_score)}"
            if c.status not in FULL_STATUSES:
                text += f" [yellow]{c.status}[/yellow]"
            if any(f in REVIEW_FLAGS for f in c.flags):
                text += " [red]![/red]"
            if c.late_penalty:
                text += " [magenta]late[/magenta]"
            cells.append(text)
        colour = colours[grade.status]
        table.add_row(escape(grade.student_id), *cells, f"{grade.percent:.1f}%",
                      f"[{colour}]{grade.status.value}[/{colour}]", escape(short_notes(grade)))
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    console.print("A part's cell shows points/max, or its status when it has no score (counted as 0); "
                  "'!' marks a flag to review. Whole messages: the CSV and the report.", soft_wrap=True)
    console.print(f"final grades: {result.csv}\ncourse report: {result.report}", soft_wrap=True)
    if result.lms:
        console.print("LMS import files: " + ", ".join(str(p) for p in result.lms.values()), soft_wrap=True)
