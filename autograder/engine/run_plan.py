"""Plan a submission's run: restore locked and test cells from the kit, like nbgrader's OverwriteCells.

Pure: a notebook (as parsed JSON) and a kit in, a list of planned cells and
what was tampered with out. Rules, as nbgrader applies them:
* a cell whose grade_id the gradebook does not know is an ordinary cell;
* a locked cell (given code, tests) runs the gradebook's version; an edited
  one is restored and reported (flag ``tampered``);
* a deleted graded cell is put back after the cell that preceded it in the
  release (``OverwriteCells.add_missing_cells``) and reported; so is a deleted
  locked cell without points (a given cell, read-only text), which nbgrader
  does not restore: every locked cell of the release is in every plan;
* a graded cell that appears twice is judged once; the copy is reported.
Test cells are judged from the gradebook's source (hidden tests included);
the sandbox only ever receives their released, visible part.
"""
from __future__ import annotations

from dataclasses import dataclass

from autograder.engine.grading_kit import Kit, KitCell
from autograder.engine.results import CellKind
from coursebase.notebook import cell_text


@dataclass
class PlannedCell:
    index: int                 # position in the planned notebook
    cell_type: str             # code | markdown | raw
    kind: CellKind
    source: str                # what runs in the sandbox (tests: the visible part only)
    shown_source: str          # what the feedback shows
    grade_id: str | None = None
    points: float | None = None
    judge_source: str = ""     # tests only: the full test, for the judge
    given: bool = False        # a given cell (KitCell.is_given): the kernel reseeds right before it
    unchanged_answer: bool = False  # manual cells: the student left the answer as released




def _same(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def _answer_unchanged(cell: dict, kit_cell: KitCell) -> bool:
    """nbgrader's test for an unanswered manual cell: its checksum with the released metadata."""
    from nbformat import NotebookNode
    from nbgrader.utils import compute_checksum

    node = NotebookNode({
        "cell_type": kit_cell.cell_type, "source": cell_text(cell.get("source")),
        "metadata": NotebookNode({"nbgrader": NotebookNode({
            "grade": kit_cell.grade, "solution": kit_cell.solution, "locked": kit_cell.locked,
            "grade_id": kit_cell.grade_id, "points": kit_cell.points or 0.0})}),
    })
    return kit_cell.checksum is not None and compute_checksum(node) == kit_cell.checksum


def plan(notebook: dict, kit: Kit) -> tuple[list[PlannedCell], list[str]]:
    """Cells to run, in order, and the list of tampering findings (empty when honest)."""
    known = kit.by_id()
    order = [c.grade_id for c in kit.cells]
    findings: list[str] = []
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise ValueError("the notebook has no list of cells")
    planned: list[tuple[str | None, PlannedCell]] = []
    seen: set[str] = set()
    for raw in cells:
        if not isinstance(raw, dict):
            raise ValueError("a cell of the notebook is not an object")
        cell_type = raw.get("cell_type", "code")
        meta = raw.get("metadata", {}) if isinstance(raw.get("metadata"), dict) else {}
        nbmeta = meta.get("nbgrader", {}) if isinstance(meta.get("nbgrader"), dict) else {}
        gid = nbmeta.get("grade_id")
        source = cell_text(raw.get("source"))
        if not isinstance(gid, str) or (kit_cell := known.get(gid)) is None:
            planned.append((None, _plain(cell_type, source)))
            continue
        if gid in seen:
            findings.append(f"cell '{gid}' appears more than once; only the first counts")
            if kit_cell.is_test or kit_cell.locked:
                continue
            planned.append((None, _plain(cell_type, source)))
            continue
        seen.add(gid)
        if cell_type != kit_cell.cell_type:
            findings.append(f"cell '{gid}' was changed from {kit_cell.cell_type} to {cell_type}; restored")
        planned.append((gid, _from_kit(kit_cell, source, raw, findings)))
    # put back deleted graded and locked cells, after the cell that preceded them in the release
    for gid in order:
        if gid in seen:
            continue
        kit_cell = known[gid]
        if not (kit_cell.grade or kit_cell.locked):
            continue
        what = "read-only cell" if kit_cell.locked and not kit_cell.grade else "cell"
        findings.append(f"{what} '{gid}' was deleted; restored")
        pos = order.index(gid)
        at = 0
        for prev in reversed(order[:pos]):
            idx = next((i for i, (g, _) in enumerate(planned) if g == prev), None)
            if idx is not None:
                at = idx + 1
                break
        planned.insert(at, (gid, _from_kit(kit_cell, kit_cell.visible_source, {}, [])))
        seen.add(gid)
    result = [cell for _, cell in planned]
    for i, cell in enumerate(result):
        cell.index = i
    return result, findings


def _runs(cell_type: str) -> CellKind:
    """An ungraded cell: code runs, markdown and raw cells are only shown."""
    return CellKind.CODE if cell_type == "code" else CellKind.TEXT


def _plain(cell_type: str, source: str) -> PlannedCell:
    return PlannedCell(index=0, cell_type=cell_type, kind=_runs(cell_type), source=source, shown_source=source)


def _from_kit(kit_cell: KitCell, source: str, raw: dict, findings: list[str]) -> PlannedCell:
    gid = kit_cell.grade_id
    if kit_cell.is_test:
        if raw and not _same(source, kit_cell.visible_source):
            findings.append(f"test cell '{gid}' was edited; restored")
        return PlannedCell(index=0, cell_type="code", kind=CellKind.TEST, source=kit_cell.visible_source,
                           shown_source=kit_cell.visible_source, grade_id=gid, points=kit_cell.points,
                           judge_source=kit_cell.source)
    if kit_cell.locked:
        if raw and not _same(source, kit_cell.source):
            findings.append(f"read-only cell '{gid}' was edited; restored")
        return PlannedCell(index=0, cell_type=kit_cell.cell_type, kind=_runs(kit_cell.cell_type), source=kit_cell.source,
                           shown_source=kit_cell.source, grade_id=gid, given=kit_cell.is_given)
    if kit_cell.is_manual:
        return PlannedCell(index=0, cell_type=kit_cell.cell_type, kind=CellKind.MANUAL, source=source,
                           shown_source=source, grade_id=gid, points=kit_cell.points,
                           unchanged_answer=_answer_unchanged({"source": source}, kit_cell) if raw else True)
    return PlannedCell(index=0, cell_type=kit_cell.cell_type, kind=_runs(kit_cell.cell_type), source=source,
                       shown_source=source, grade_id=gid)
