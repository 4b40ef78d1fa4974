"""Building an assignment's grading kit from the course: nbgrader's gradebook and the release.

The kit itself (:class:`autograder.engine.grading_kit.Kit`) is the engine's; this module
is the course side that fills it: cell ids, points, locked cells and hidden tests from
the gradebook (nbgrader's ``generate_assignment`` stores them there), the visible
sources and data files from ``release/``. It is stored at :func:`kit_path`, in the
course's private state folder.
"""
from __future__ import annotations

from pathlib import Path

from autograder.engine.grading_kit import Kit, KitCell, tests_hash
from coursebase.layout import Course, CourseError


def build_kit(course: Course, assignment: str) -> Kit:
    """Read the assignment's cells from the gradebook and its released notebook."""
    import nbformat  # here, not at the top: a grade run with nothing to do never needs it (seconds of imports)
    from nbgrader.api import MissingEntry

    from autograder.gradebook import open_gradebook

    release_nb_path = course.release_notebook(assignment)
    if not release_nb_path.exists():
        raise CourseError(f"{release_nb_path} does not exist; run `autograder release {assignment}` first")
    released = nbformat.read(str(release_nb_path), as_version=4)
    notebook_name = release_nb_path.stem
    with open_gradebook(course.db_url) as gb:
        try:
            nb = gb.find_notebook(notebook_name, assignment)
        except MissingEntry:
            raise CourseError(f"the gradebook has no notebook {notebook_name} for {assignment}; "
                              f"run `autograder release {assignment}`") from None
        source_cells = {c.name: c for c in nb.source_cells}
        grade_cells = {c.name: c for c in nb.grade_cells}
        solution_ids = {c.name for c in nb.solution_cells}
        cells: list[KitCell] = []
        for cell in released.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            gid = meta.get("grade_id")
            if not gid or gid not in source_cells:
                continue
            src = source_cells[gid]
            gc = grade_cells.get(gid)
            cells.append(KitCell(
                grade_id=gid, cell_type=src.cell_type, locked=bool(src.locked), grade=gc is not None,
                solution=gid in solution_ids, points=float(gc.max_score) if gc is not None else None,
                checksum=src.checksum, source=src.source, visible_source=cell.source,
            ))
        missing = set(grade_cells) - {c.grade_id for c in cells}
        if missing:
            raise CourseError(f"{release_nb_path} lacks graded cells {sorted(missing)} that the gradebook has; "
                              f"run `autograder release {assignment}` again")
    data_files = sorted(
        str(p.relative_to(release_nb_path.parent)) for p in release_nb_path.parent.rglob("*")
        if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts
    )
    return Kit(assignment=assignment, notebook=release_nb_path.name, cells=cells, data_files=data_files,
               tests_hash=tests_hash(cells))


def kit_path(course: Course, assignment: str) -> Path:
    return course.state / "kits" / f"{assignment}.json"
