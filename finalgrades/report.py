"""Final grades, the output edge: the CSV, the HTML course report with its histograms, the terminal table.

Everything here turns :class:`finalgrades.combine.FinalGrade` values into text;
nothing decides a number. :func:`render_csv`, :func:`render_report` and
:func:`table` are pure (the report's only varying input is its "generated" time);
:func:`write_text` is the one writer, atomic (a reader never sees half a file).

* ``final_grades.csv``: one row per rostered student. A part's own column holds
  its score, or its status word when it has none: never an empty cell or a silent
  0. Cells a spreadsheet would evaluate are neutralised
  (:func:`coursebase.spreadsheet.spreadsheet_row`).
* ``course_report.html`` (template ``finalgrades/templates/course_report.html.j2``):
  self-contained (inline CSS, base64 PNGs, no script), autoescaped. Per assignment
  a histogram of the shares stacked by status, the parts without a score counted
  in its title and never drawn as zeros; the leaderboard's private accuracies with
  its grade thresholds (:func:`leaderboard.report.histogram_png`); the final
  grades stacked by final status. Every histogram is drawn by
  :func:`coursebase.histogram.histogram_png`.
* the terminal: a rich table of points per part, the final percent and status,
  and short notes (the CSV and the report hold the whole message).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path

from coursebase.histogram import Series, histogram_png
from coursebase.layout import Course
from coursebase.spreadsheet import spreadsheet_row
from coursebase.vocabulary import REVIEW_FLAGS, Status, Word
from finalgrades.combine import LEADERBOARD, FinalGrade, FinalStatus, Part, fmt, remarks

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


# ================================================================== the histograms

# A notebook part with a score is graded, timed out or crashed; the others have no score and are not drawn.
STATUS_COLOURS = {Status.GRADED: "#4a7ebb", Status.TIMEOUT: "#e0a030", Status.CRASHED: "#c0392b"}
FINAL_COLOURS = {FinalStatus.COMPLETE: "#4a7ebb", FinalStatus.INCOMPLETE: "#e0a030", FinalStatus.REVIEW: "#c0392b"}


def score_histogram(parts: list[Part], title: str) -> str:
    """Base64 PNG: how the share of the maximum is spread, stacked by status; the parts
    without a score are counted in the title, not drawn as zeros."""
    series = []
    for status, colour in STATUS_COLOURS.items():
        values = [100 * p.share for p in parts if p.component.status == status and p.component.score is not None]
        if values:
            series.append(Series(values, colour, f"{status} ({len(values)})"))
    unscored: dict[Word, int] = {}
    for p in parts:
        if p.component.score is None:
            unscored[p.component.status] = unscored.get(p.component.status, 0) + 1
    extra = ", ".join(f"{n} {s}" for s, n in sorted(unscored.items()))
    return histogram_png(series, bins=10, span=(0, 100), size=(5.2, 2.6),
                         title=title + (f"  (not drawn: {extra})" if extra else ""),
                         xlabel="% of the maximum (after late penalties)")


def final_histogram(grades: list[FinalGrade]) -> str:
    """Base64 PNG: the final grades in percent, stacked by final status."""
    series = []
    for status, colour in FINAL_COLOURS.items():
        values = [g.percent for g in grades if g.status == status]
        series.append(Series(values, colour, f"{status.value} ({len(values)})"))
    return histogram_png(series, bins=20, span=(0, 100), title="Final grades", xlabel="final grade, %")


# ================================================================== the HTML report

def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(path, start).replace(os.sep, "/")


def render_report(course: Course, grades: list[FinalGrade], names: list[str], policy) -> str:
    """The course report's HTML (self-contained: inline CSS, base64 images, no scripts).

    Reads nothing but which of the course's other pages exist (to link them).
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    from leaderboard.report import histogram_png as accuracy_histogram

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
            image = accuracy_histogram(accuracies, board.thresholds, [],
                                       "Private accuracy of the submission that counts", board.floor_points)
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
    env = Environment(loader=PackageLoader("finalgrades", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = fmt
    return env.get_template("course_report.html.j2").render(
        course_id=policy.course_id, generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        names=names, grades=grades, assignments=assignments, counts=counts,
        mean=(sum(g.percent for g in grades) / len(grades)) if grades else None,
        final_image=final_histogram(grades) if grades else None, leaderboard_rows=leaderboard_rows,
        has_leaderboard=LEADERBOARD in names, thresholds=board.thresholds,
        floor_points=board.floor_points, max_points=board.max_points, links=links, feedback=feedback,
        review_flags=REVIEW_FLAGS, leaderboard=LEADERBOARD)


# ================================================================== the terminal

LEGEND = ("A part's cell shows points/max, or its status when it has no score (counted as 0); "
          "'!' marks a flag to review. Whole messages: the CSV and the report.")


def _short(name: str) -> str:
    head = name.split("_", 1)[0]
    return head if head.isdigit() else ("LB" if name == LEADERBOARD else name)


def short_notes(grade: FinalGrade) -> str:
    """The message in a few words per part, for the terminal (the CSV and the report have it whole)."""
    return ", ".join(note for part in grade.parts
                     for note in remarks(part.component, _short(part.component.name), short=True))


def table(grades: list[FinalGrade], names: list[str], weights) -> object:
    """The terminal's rich Table: one row per student, a column per part headed by its weight."""
    from rich.markup import escape
    from rich.table import Table

    out = Table(title=f"Final grades ({len(grades)} students)")
    out.add_column("student")
    for name in names:
        out.add_column(f"{_short(name)}\n{weights.get(name, 0):g}%", justify="right")
    out.add_column("final", justify="right", no_wrap=True)
    out.add_column("status", no_wrap=True)
    out.add_column("notes", overflow="fold", ratio=1)
    colours = {FinalStatus.COMPLETE: "green", FinalStatus.INCOMPLETE: "yellow", FinalStatus.REVIEW: "red"}
    for grade in grades:
        cells = []
        for part in grade.parts:
            c = part.component
            if c.score is None:
                cells.append(f"[red]{c.status}[/red]")
                continue
            text = f"{fmt(c.score)}/{fmt(c.max_score)}"
            if not c.full:
                text += f" [yellow]{c.status}[/yellow]"
            if c.to_review:
                text += " [red]![/red]"
            if c.late_penalty:
                text += " [magenta]late[/magenta]"
            cells.append(text)
        colour = colours[grade.status]
        out.add_row(escape(grade.student_id), *cells, f"{grade.percent:.1f}%",
                    f"[{colour}]{grade.status.value}[/{colour}]", escape(short_notes(grade)))
    return out
