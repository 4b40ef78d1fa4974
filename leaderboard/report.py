"""Write the leaderboard's outputs from :class:`Standings` (I/O edge).

``--out`` gets:
* ``leaderboard.csv``: one row per student (status from the closed list), for the
  final grades and LMS imports; a cell a spreadsheet would evaluate gets a leading
  ``'`` (OWASP, :func:`coursebase.spreadsheet.spreadsheet_cell`);
* ``leaderboard.md``: the instructor table in Markdown; ``leaderboard-public.md``
  the public one, safe to post; every name or id goes through :func:`md_cell`;
* ``leaderboard-public.html`` (pseudonyms, public scores only) and
  ``leaderboard-instructor.html`` (everything, flags included): self-contained
  pages rendered by Jinja with autoescape on, each with a histogram of accuracies and the grade thresholds drawn.
"""
from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from coursebase.files import write_atomic
from coursebase.histogram import Line, Series
from coursebase.histogram import histogram_png as draw_histogram
from coursebase.spreadsheet import spreadsheet_cell
from leaderboard.records import CsvStatus
from leaderboard.standings import Standings
from leaderboard.validate import cut

CSV_COLUMNS = ("rank", "student_id", "pseudonym", "status", "public_accuracy", "public_low", "public_high",
               "private_accuracy", "private_low", "private_high", "grade", "max_points", "flags",
               "submission_id", "submitted_at", "submissions", "message")


@dataclass(frozen=True)
class ReportPaths:
    csv: Path
    markdown: Path
    public_markdown: Path
    public_html: Path
    instructor_html: Path

    def all(self) -> list[Path]:
        return [self.csv, self.markdown, self.public_markdown, self.public_html, self.instructor_html]


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def csv_rows(standings: Standings) -> list[dict[str, str]]:
    """The leaderboard.csv rows (student rows only; baselines are not students)."""
    rows = []
    for s in standings.students:
        f = s.final
        rows.append({
            "rank": "" if s.rank is None else str(s.rank),
            "student_id": s.student_id, "pseudonym": s.pseudonym, "status": s.status.value,
            "public_accuracy": _fmt(f.public_score.value if f else None),
            "public_low": _fmt(f.public_score.low if f else None),
            "public_high": _fmt(f.public_score.high if f else None),
            "private_accuracy": _fmt(f.private_score.value if f else None),
            "private_low": _fmt(f.private_score.low if f else None),
            "private_high": _fmt(f.private_score.high if f else None),
            "grade": f"{s.points:g}", "max_points": f"{s.max_points:g}", "flags": ",".join(s.flags),
            "submission_id": "" if f is None else str(f.id),
            "submitted_at": "" if f is None else f.submitted_at.isoformat(),
            "submissions": str(s.submissions), "message": s.message.replace("\n", " "),
        })
    return rows


_MD_PUNCTUATION = set("\\`*_{}[]()#+-.!|~\"'$%,:;=?^/")


def md_cell(text: str) -> str:
    """``text`` as literal Markdown table-cell content: no HTML, no markup, no column break.

    ``<``, ``>`` and ``&`` become HTML entities (so ``<script>`` or ``<img onerror=...>``
    are shown, never run); every other ASCII punctuation mark gets CommonMark's
    backslash escape; line breaks become spaces.
    """
    out = []
    for ch in " ".join(str(text).splitlines()):
        if ch in "<>&":
            out.append({"<": "&lt;", ">": "&gt;", "&": "&amp;"}[ch])
        elif ch in _MD_PUNCTUATION:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


_md_cell = md_cell


def markdown_instructor(standings: Standings) -> str:
    lines = ["| # | Student | Status | Private accuracy (95 % CI) | Public | Grade | Flags |",
             "|---:|---|---|---:|---:|---:|---|"]
    baselines = {b.name: b for b in standings.baselines}
    for row in standings.instructor:
        if row.baseline:
            b = baselines[row.name]
            lines.append(f"| — | *{_md_cell(row.name)} (baseline)* | | {b.private.value:.4f} "
                         f"({b.private.low:.4f}–{b.private.high:.4f}) | {b.public.value:.4f} | | |")
            continue
        s = row.student
        private, public = s.counted.private_score, s.counted.public_score
        lines.append(f"| {s.rank} | {_md_cell(s.student_id)} | {s.status.value} | {private.value:.4f} "
                     f"({private.low:.4f}–{private.high:.4f}) | {public.value:.4f} | "
                     f"{s.points:g} / {s.max_points:g} | {', '.join(s.flags)} |")
    for s in standings.students:
        if s.rank is None:
            lines.append(f"| | {_md_cell(s.student_id)} | {s.status.value} | | | {s.points:g} / "
                         f"{s.max_points:g} | |")
    return "\n".join(lines) + "\n"


def markdown_public(standings: Standings) -> str:
    lines = ["| # | Participant | Public accuracy | 95 % interval | Entries |", "|---:|---|---:|---:|---:|"]
    for row in standings.public:
        rank = "—" if row.baseline else str(row.rank)
        name = f"*{_md_cell(row.name)} (baseline)*" if row.baseline else _md_cell(row.name)
        entries = "" if row.baseline else str(row.entries)
        lines.append(f"| {rank} | {name} | {row.accuracy.value:.4f} | {row.accuracy.low:.4f}–"
                     f"{row.accuracy.high:.4f} | {entries} |")
    return "\n".join(lines) + "\n"


def accuracy_span(accuracies: list[float], thresholds, baselines: list[tuple[str, float]]) -> tuple[float, float]:
    """The x range of an accuracy histogram: every value, threshold and baseline, at least 0.7 to 0.95."""
    marks = [t for t, _ in thresholds] + [v for _, v in baselines]
    low = min(accuracies + marks + [0.7]) - 0.01
    high = min(max(accuracies + marks + [0.95]) + 0.01, 1.0)
    return low, high


def histogram_png(accuracies: list[float], thresholds, baselines: list[tuple[str, float]], title: str,
                  floor_points: float) -> str:
    """A base64 PNG histogram with the grade thresholds (and baselines) drawn as lines
    (:func:`coursebase.histogram.histogram_png`; for the course report)."""
    lines = [Line(threshold, "#c0392b", "--", f"≥{threshold:.2f}: {points:g} pts") for threshold, points in thresholds]
    lines += [Line(value, "#555", ":", name, label_at_top=False) for name, value in baselines]
    return draw_histogram([Series(accuracies, "#4a7ebb")], bins=30, span=accuracy_span(accuracies, thresholds, baselines),
                          title=title, xlabel="accuracy", size=(8, 3.2), font=9, lines=lines,
                          note=f"below {thresholds[0][0]:.2f}: {floor_points:g} pts" if thresholds else "",
                          empty="no scored submissions yet")


def histogram_svg(accuracies: list[float], thresholds, baselines: list[tuple[str, float]], title: str,
                  floor_points: float, bins: int = 30) -> str:
    """The same histogram as :func:`histogram_png`, as a small SVG (base64), written directly.

    No plotting library: the leaderboard pages need 30 bars, a few lines and labels,
    and importing matplotlib cost more than scoring the whole class. Every text
    (titles, baseline names) is XML-escaped; the page shows it through ``<img>``, where
    an SVG cannot run scripts anyway.
    """
    from html import escape

    width, height, left, right, top, bottom = 800, 320, 50, 15, 30, 40
    low, high = accuracy_span(accuracies, thresholds, baselines)
    span = max(high - low, 1e-9)
    counts = np.histogram(accuracies, bins=bins, range=(low, high))[0] if accuracies else np.zeros(bins, int)
    peak = max(int(counts.max()), 1)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(value: float) -> float:
        return left + (value - low) / span * plot_w

    def y(count: float) -> float:
        return top + plot_h - count / peak * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>']
    bar = plot_w / bins
    for k, count in enumerate(counts.tolist()):
        if count:
            out.append(f'<rect x="{left + k * bar:.1f}" y="{y(count):.1f}" width="{max(bar - 1, 1):.1f}" '
                       f'height="{top + plot_h - y(count):.1f}" fill="#4a7ebb"/>')
    if not accuracies:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#777">'
                   f'no scored submissions yet</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#333"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>')
    for k in range(6):
        value = low + span * k / 5
        out.append(f'<text x="{x(value):.1f}" y="{top + plot_h + 15}" text-anchor="middle">{value:.3f}</text>')
    step = max(1, int(np.ceil(peak / 5)))
    for count in range(0, peak + 1, step):
        out.append(f'<text x="{left - 6}" y="{y(count) + 4:.1f}" text-anchor="end">{count}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 5}" text-anchor="middle">accuracy</text>')
    for threshold, points in thresholds:
        out.append(f'<line x1="{x(threshold):.1f}" y1="{top}" x2="{x(threshold):.1f}" y2="{top + plot_h}" '
                   f'stroke="#c0392b" stroke-dasharray="5,3"/>')
        out.append(f'<text x="{x(threshold) + 3:.1f}" y="{top + 10}" fill="#c0392b" font-size="9">'
                   f'&#8805;{threshold:.2f}: {points:g} pts</text>')
    if thresholds:
        out.append(f'<text x="{left + 4}" y="{top + 22}" fill="#c0392b" font-size="9">below '
                   f'{thresholds[0][0]:.2f}: {floor_points:g} pts</text>')
    for name, value in baselines:
        out.append(f'<line x1="{x(value):.1f}" y1="{top}" x2="{x(value):.1f}" y2="{top + plot_h}" '
                   f'stroke="#555" stroke-dasharray="2,2"/>')
        out.append(f'<text x="{x(value) + 3:.1f}" y="{top + plot_h - 4}" fill="#555" font-size="9">'
                   f'{escape(cut(name, 60))}</text>')
    out.append("</svg>")
    return base64.b64encode("\n".join(out).encode("utf-8")).decode("ascii")


def _environment() -> Environment:
    return Environment(loader=PackageLoader("leaderboard", "templates"),
                       autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def _write(path: Path, text: str) -> None:
    write_atomic(path, text)


def counts_line(standings: Standings) -> str:
    counts = {status: 0 for status in CsvStatus}
    for s in standings.students:
        counts[s.status] += 1
    flagged = sum(1 for s in standings.students if s.flags)
    return ", ".join(f"{n} {status.value}" for status, n in counts.items()) + f"; {flagged} flagged for review"


def write_reports(standings: Standings, out_dir: str | Path, policy, n_public: int, n_private: int,
                  course_title: str = "") -> ReportPaths:
    """Write every output file into ``out_dir`` (created if needed); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(out / "leaderboard.csv", out / "leaderboard.md", out / "leaderboard-public.md",
                        out / "leaderboard-public.html", out / "leaderboard-instructor.html")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    # OWASP: no cell a spreadsheet would evaluate (=, +, -, @, tab, CR); see coursebase/spreadsheet.py
    writer.writerows({k: spreadsheet_cell(v) for k, v in row.items()} for row in csv_rows(standings))
    _write(paths.csv, buffer.getvalue())
    _write(paths.markdown, markdown_instructor(standings))
    _write(paths.public_markdown, markdown_public(standings))

    env = _environment()
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    name = course_title or standings.assignment
    common = dict(generated=generated, n_public=n_public, n_private=n_private, thresholds=policy.thresholds,
                  floor_points=f"{policy.floor_points:g}", max_points=policy.max_points)
    public_hist = histogram_svg([r.accuracy.value for r in standings.public if not r.baseline],
                                policy.thresholds, [(b.name, b.public.value) for b in standings.baselines],
                                "Best public accuracy per participant (thresholds apply to private accuracy)",
                                policy.floor_points)
    _write(paths.public_html, env.get_template("public.html.j2").render(
        title=f"Leaderboard — {name}", subtitle="Public leaderboard", histogram=public_hist,
        rows=standings.public, pseudonyms=policy.pseudonyms, **common))
    private_hist = histogram_svg([s.final.private_score.value for s in standings.students if s.final],
                                 policy.thresholds, [(b.name, b.private.value) for b in standings.baselines],
                                 "Private accuracy of the submission that counts", policy.floor_points)
    _write(paths.instructor_html, env.get_template("instructor.html.j2").render(
        title=f"Leaderboard — {name} (instructor)", subtitle="Private scores, grades and flags",
        histogram=private_hist, rows=standings.instructor,
        unranked=[s for s in standings.students if s.rank is None],
        baselines={b.name: b for b in standings.baselines}, counts=counts_line(standings), **common))
    return paths
