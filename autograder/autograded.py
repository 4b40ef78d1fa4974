"""The autograded notebook nbgrader's formgrader and ``generate_feedback`` read, from our run.

``autograded/<student>/<assignment>/<notebook>.ipynb`` is written for every
stored submission, as nbgrader's ``autograde`` would leave it:

* the cells in the order they ran (locked and test cells restored, as
  nbgrader's OverwriteCells does), each with the released notebook's
  ``nbgrader`` metadata (grade_id, points, checksum, ...) and the notebook's
  metadata (kernelspec) from the release;
* test and locked cells hold the instructor's source (hidden tests included:
  this folder is the instructor's; the course's ``nbgrader_config.py`` makes
  ``nbgrader generate_feedback`` cut hidden tests out);
* outputs from our sandboxed run: stdout and stderr streams, results, and the
  error of a cell (a test cell's error is the judge's verdict line).

Scores are not in the notebook: nbgrader keeps them in the gradebook
(:mod:`autograder.gradebook`). Student output is untrusted and the formgrader
renders this notebook in the instructor's browser, so only ``text/plain`` and
real PNG images are kept; HTML is kept as text. A submission that could not be
read (``failed``) gets the released notebook with a note on top, so the
formgrader can still open it.

:func:`autograded_notebook` is pure; :func:`write_autograded` is the I/O edge
(written to a temporary name, then renamed).
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output, new_raw_cell

from autograder.engine.grading_kit import Kit
from autograder.engine.results import RecordedOutput, RunResult
from coursebase.files import write_atomic
from coursebase.notebook import cell_text

NOTE_FAILED = "**Not graded by the autograder**: {message}"




def _error_output(text: str):
    last = text.strip().splitlines()[-1] if text.strip() else "Error"
    name, _, value = last.partition(": ")
    if not name.replace(".", "").replace("_", "").isalnum():
        name, value = "Error", last
    return new_output("error", ename=name, evalue=value, traceback=text.splitlines())


def _outputs(entry: RecordedOutput) -> list:
    from autograder.feedback import _png

    outputs = []
    for name, text in (("stdout", entry.stdout), ("stderr", entry.stderr)):
        if text:
            outputs.append(new_output("stream", name=name, text=text))
    for result in entry.results:
        if "image/png" in result:
            png = _png(result["image/png"])
            data = {"image/png": png} if png else {"text/plain": "[image not shown: not a PNG]"}
        elif "text/plain" in result:
            data = {"text/plain": cell_text(result["text/plain"])}
        elif "text/html" in result:
            data = {"text/plain": cell_text(result["text/html"])}
        else:
            continue
        outputs.append(new_output("display_data", data=data))
    if entry.error:
        outputs.append(_error_output(entry.error))
    return outputs


def autograded_notebook(result: RunResult, kit: Kit, released: dict):
    """The autograded notebook of one run (pure): ``released`` is the released notebook as parsed JSON."""
    nb = nbformat.from_dict(copy.deepcopy(released))
    meta_by_id = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            meta_by_id[grade_id] = cell["metadata"]
    kit_cells = kit.by_id()
    if not result.outputs:
        for cell in nb.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in kit_cells and (kit_cells[grade_id].locked or kit_cells[grade_id].is_test):
                cell.source = kit_cells[grade_id].source
        message = result.message or f"status {result.status.value}"
        nb.cells.insert(0, new_markdown_cell(NOTE_FAILED.format(message=message)))
        return nb
    cells = []
    count = 0
    for entry in result.outputs:
        grade_id = entry.grade_id
        kit_cell = kit_cells.get(grade_id) if grade_id else None
        source = entry.source
        if kit_cell is not None and (kit_cell.locked or kit_cell.is_test):
            source = kit_cell.source
        metadata = copy.deepcopy(meta_by_id.get(grade_id, {})) if grade_id else {}
        if entry.cell_type == "code":
            count += 1
            cell = new_code_cell(source, metadata=metadata, execution_count=count)
            cell.outputs = _outputs(entry) if entry.ran else []
        elif entry.cell_type == "markdown":
            cell = new_markdown_cell(source, metadata=metadata)
        else:
            cell = new_raw_cell(source, metadata=metadata)
        cells.append(cell)
    nb.cells = cells
    return nb


def unanswered(result: RunResult, kit: Kit) -> frozenset[str]:
    """grade_ids of answer cells the student left exactly as released (nbgrader's "No response.")."""
    kit_cells = kit.by_id()
    found = set()
    for entry in result.outputs:
        cell = kit_cells.get(entry.grade_id or "")
        if cell is not None and cell.solution and entry.source.strip() == cell.visible_source.strip():
            found.add(cell.grade_id)
    return frozenset(found)


def write_autograded(autograded_root: Path, result: RunResult, kit: Kit, released_path: Path) -> Path:
    """Write the autograded notebook of ``result`` under ``autograded_root`` and return its path."""
    import json

    released = json.loads(released_path.read_text(encoding="utf-8"))
    nb = autograded_notebook(result, kit, released)
    target = autograded_root / result.student_id / result.assignment / f"{Path(kit.notebook).stem}.ipynb"
    text = nbformat.writes(nb)
    return write_atomic(target, text if text.endswith("\n") else text + "\n")   # as nbformat.write ends it
