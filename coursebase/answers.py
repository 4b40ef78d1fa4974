"""The answer cells of a course notebook: the instructor's reference answers and a student's copy.

A source notebook (``source/<assignment>/<assignment>.ipynb``) marks its answer cells with
nbgrader metadata (``solution`` true, ``grade`` false) and wraps the instructor's solution in
``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines. Two pure functions on notebooks as parsed
JSON (dicts), no I/O:

- :func:`reference_answers`: grade_id -> the instructor's answer, marker lines removed (what a
  diligent student would write);
- :func:`student_notebook`: a copy of a released notebook with some answer cells' sources
  replaced (what a student hands in). The given notebook is never modified.

Used by the demo's simulated students (``classroom.demo``) and by the tests that grade
solved or varied notebooks; neither owns the rule.
"""
from __future__ import annotations

import json

from coursebase.notebook import cell_text


def reference_answers(source_nb: dict) -> dict[str, str]:
    """grade_id -> the instructor's answer cell with the solution markers removed."""
    answers = {}
    for cell in source_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade"):
            lines = cell_text(cell["source"]).splitlines()
            answers[meta["grade_id"]] = "\n".join(
                line for line in lines if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    return answers


def student_notebook(released_nb: dict, answers: dict[str, str]) -> dict:
    """A copy of the released notebook with these answer cells' sources replaced (outputs as released)."""
    nb = json.loads(json.dumps(released_nb))
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return nb
