"""The one histogram helper of every report: counts of students as a self-contained PNG.

:func:`histogram_png` draws one or more series of values as (stacked) bars over a
fixed x range, with optional vertical lines (a grade threshold, a baseline), a
note in the corner and a text for an empty plot, and returns the PNG as base64
text, ready for an ``<img src="data:image/png;base64,...">`` in a page that needs
no file beside it and no script. The y axis counts students, in whole numbers.

Used by the leaderboard (accuracies with the grade thresholds) and the final
grades' course report (per-assignment shares stacked by status, final grades
stacked by final status). matplotlib is imported inside the function, through its
object API (no pyplot, no global state, no display): importing this module costs
nothing, and a command that draws no picture never loads matplotlib.

Same arguments, same bytes. Every text (title, labels, legend, notes) is drawn
literally: a ``$`` in a name is a dollar sign, never matplotlib's math markup
(which raises on what it cannot parse), and the page shows only an image.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    """One set of values drawn as bars; several series are stacked."""
    values: Sequence[float]
    colour: str
    label: str = ""          # in the legend (a legend is drawn when any series has a label)


@dataclass(frozen=True)
class Line:
    """A vertical line across the plot at ``at``, with its label written along it."""
    at: float
    colour: str
    style: str = "--"        # matplotlib's line style: "--" dashed, ":" dotted
    label: str = ""
    label_at_top: bool = True


def histogram_png(series: Sequence[Series], *, bins: int, span: tuple[float, float], title: str, xlabel: str,
                  size: tuple[float, float] = (7.0, 2.6), font: float = 8, lines: Sequence[Line] = (),
                  note: str = "", empty: str = "") -> str:
    """A base64 PNG histogram of ``series`` (stacked) with ``bins`` bars over ``span``.

    ``note`` is written in the top-left corner; ``empty`` in the middle when no
    series holds a value. ``font`` is the size of axis labels, legend and line
    labels are smaller, the title one point larger.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=size, dpi=100)
    ax = fig.add_subplot()
    if any(len(s.values) for s in series):
        labelled = any(s.label for s in series)
        ax.hist([list(s.values) for s in series], bins=bins, range=span, stacked=True,
                color=[s.colour for s in series], edgecolor="white",
                label=[s.label for s in series] if labelled else None)
        if labelled:
            for text in ax.legend(fontsize=font - 1, loc="upper left").get_texts():
                text.set_parse_math(False)
    elif empty:
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", color="#777", parse_math=False)
    top = ax.get_ylim()[1]
    for line in lines:
        ax.axvline(line.at, color=line.colour, linestyle=line.style, linewidth=1)
        if line.label:
            ax.text(line.at, top * (0.97 if line.label_at_top else 0.03), f" {line.label}", rotation=90,
                    va="top" if line.label_at_top else "bottom", fontsize=font - 1, color=line.colour,
                    parse_math=False)
    if note:
        ax.text(0.01, 0.97, note, transform=ax.transAxes, va="top", fontsize=font - 1, color="#c0392b",
                parse_math=False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(*span)
    ax.set_xlabel(xlabel, fontsize=font, parse_math=False)
    ax.set_ylabel("students", fontsize=font)
    ax.set_title(title, fontsize=font + 1, parse_math=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
