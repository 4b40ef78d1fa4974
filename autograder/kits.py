"""Building an assignment's grading kit from the course: nbgrader's gradebook and the release.

The kit itself (:class:`autograder.engine.grading_kit.Kit`) is the engine's; this module
is the course side that fills it: cell ids, points, locked cells and hidden tests from
the gradebook (nbgrader's ``generate_assignment`` stores them there), the visible
sources and data files from ``release/``. It is stored at :func:`kit_path`, in the
course's private state folder; :func:`current_kit` reuses the stored kit while
``release/<assignment>/`` is unchanged (:func:`release_stamp`), so a run with nothing to grade
neither opens the gradebook nor imports nbgrader.
"""
from __future__ import annotations

import json
from pathlib import Path

from autograder.engine.grading_kit import KIT_VERSION, Kit, KitCell, tests_hash
from coursebase.files import write_atomic
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
    kit = Kit(assignment=assignment, notebook=release_nb_path.name, cells=cells, data_files=data_files,
              tests_hash=tests_hash(cells))
    kit.compiled = kit.compile_for_judge()
    kit.kernel_compiled = kit.compile_for_kernel()
    return kit


def kit_path(course: Course, assignment: str) -> Path:
    return course.state / "kits" / f"{assignment}.json"


def release_stamp(course: Course, assignment: str) -> dict:
    """What the kit of ``assignment`` was built from, as far as a run can tell without the gradebook: the
    gradebook's address and every file of release/<assignment>/ (name, size, modification time).
    `autograder release` (nbgrader's generate_assignment) rewrites those files whenever it writes the
    assignment's cells to the gradebook, so an unchanged stamp means an unchanged kit."""
    folder = course.release / assignment
    files = []
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            try:
                info = path.lstat()
            except OSError:
                continue
            files.append([str(path.relative_to(folder)), info.st_size, info.st_mtime_ns, info.st_mode])
    return {"kit_version": KIT_VERSION, "db_url": course.db_url, "files": files}


def current_kit(course: Course, assignment: str) -> Kit:
    """The assignment's kit, saved at kit_path: the one the last run saved while release/<assignment>/ is
    unchanged since (see release_stamp), else built again from the gradebook and saved with its stamp.
    A run with nothing to grade thus neither opens the gradebook nor imports nbgrader."""
    path = kit_path(course, assignment)
    stamp_file = path.with_suffix(".stamp")
    stamp = release_stamp(course, assignment)
    try:
        if json.loads(stamp_file.read_text(encoding="utf-8")) == stamp:
            return Kit.load(path)
    except (OSError, ValueError, TypeError, KeyError):
        pass  # no stamp yet, or a stale or broken one: build the kit from the source of truth
    kit = build_kit(course, assignment)
    kit.save(path)
    write_atomic(stamp_file, json.dumps(stamp))
    return kit
