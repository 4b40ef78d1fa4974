"""Release: turn instructor notebooks (source/) into student notebooks (release/) with nbgrader.

`release(course, assignments)` is what `autograder release [ASSIGNMENT...]` calls. For each
assignment it

1. checks the source notebook up front (valid JSON, valid notebook, nbgrader cell metadata that
   nbgrader's own schema-3 validator accepts, points on every test cell) and names the file,
   the cell and what to fix when something is wrong;
2. runs nbgrader's own ``GenerateAssignment`` converter (solutions replaced by stubs, hidden
   tests removed, read-only cells locked, checksums computed) into a staging folder, which also
   records the assignment, its notebook and every graded/solution/locked cell in the course
   gradebook (``gradebook.db``) exactly as ``nbgrader generate_assignment`` would;
3. swaps the staged folder into ``release/<assignment>/`` only when nbgrader succeeded, so a
   rejected notebook never deletes what was released before (nbgrader alone removes it).

The output is a pure function of ``source/``: no timestamps or random ids, so the committed
``release/`` can be checked for staleness byte for byte.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from autograder.gradebook import ensure_alembic_on_path
from coursebase.layout import Course, CourseError
from coursebase.notebook import BEGIN_SOLUTION, MARKER_PAIRS
from coursebase.policy import load_policy

# Files beside a source notebook that must never reach students: the competition data the
# MLP notebook reads from data/ and the submission.csv an instructor's test run writes.
NOT_RELEASED = ["data", "submission.csv"]


class ReleaseError(CourseError):
    """A source notebook (or the course) cannot be released; the message names the file and the fix."""


@dataclass(frozen=True)
class Released:
    """One released assignment, as recorded in the gradebook."""
    assignment: str
    notebook: Path
    graded_cells: int
    max_score: float


def release(course: Course, assignments: list[str] | None = None, console: Console | None = None) -> list[Path]:
    """Regenerate ``release/<a>/<a>.ipynb`` for each assignment (default: all in source/).

    Every selected source notebook is checked before anything is written, so a notebook our
    checks reject leaves release/ and the gradebook untouched. If nbgrader itself rejects one
    (e.g. graded cells removed after students submitted), the assignments before it stay
    released and that one keeps its previous release/ folder. Prints one line per assignment.
    Returns the released notebook paths in the order given. Raises :class:`ReleaseError`
    naming the notebook (and, where known, the cell and line) on bad input.
    """
    console = console or Console()
    ensure_alembic_on_path()
    names = _select(course, assignments)
    policy = load_policy(course.root)
    _check_nbgrader_config(course, policy.course_id)
    sources = {name: course.source_notebook(name) for name in names}
    for name in names:
        check_source_notebook(sources[name], course.root)

    released: list[Released] = []
    # The spinner is for people at a terminal; logs and pipes get just the one line per assignment.
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("releasing", total=len(names))
        for name in names:
            progress.update(task, description=f"releasing {name}")
            item = _release_one(course, name, sources[name], policy.course_id)
            released.append(item)
            progress.advance(task)
            console.print(f"[green]released[/green] {name}: {item.graded_cells} graded cells, "
                          f"{item.max_score:g} points -> {_shown(item.notebook, course.root)}", soft_wrap=True)
    return [item.notebook for item in released]


# --------------------------------------------------------------------------- checks

def check_source_notebook(path: Path, root: Path | None = None) -> None:
    """Raise :class:`ReleaseError` if nbgrader would reject `path` or a test cell has no points.

    Uses nbgrader's own schema-3 metadata validator cell by cell, so the message can name
    the cell; our one extra rule is that every graded test cell carries points > 0.
    """
    import nbformat
    from nbgrader.nbgraderformat import ValidationError as NbgraderValidationError
    from nbgrader.nbgraderformat.common import SchemaMismatchError
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

    shown = _shown(path, root)
    fix_json = f"Restore it from version control (e.g. `git checkout -- {shown}`) or repair it in an editor."
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ReleaseError(f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start}). {fix_json}") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"{shown}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
                           f"{fix_json}") from None
    try:
        nb = nbformat.reads(text, as_version=4)  # also joins multi-line sources
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds; all mean "not a notebook"
        raise ReleaseError(f"{shown}: JSON but not a valid Jupyter notebook ({_first_line(exc)}). {fix_json}") from None

    validator = MetadataValidatorV3()
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells, start=1):
        meta = cell.get("metadata", {}).get("nbgrader")
        grade_id = (meta or {}).get("grade_id", "?")
        where = f"{shown}, cell {index} (grade_id '{grade_id}')" if meta else f"{shown}, cell {index}"
        for begin, end in MARKER_PAIRS:
            problem = _unbalanced(cell.source, begin, end)
            if problem:
                raise ReleaseError(f"{where}: {problem}. Every `### {begin}` needs its own `### {end}` after it.")
        if BEGIN_SOLUTION in cell.source and not (meta or {}).get("solution"):
            raise ReleaseError(f"{where}: has a `### BEGIN SOLUTION` block but is not an answer (solution) cell, "
                               "so nbgrader would refuse it. Mark the cell 'Autograded answer' or remove the markers.")
        if meta is None:
            continue
        try:
            validator.validate_cell(cell)
        except SchemaMismatchError as exc:
            raise ReleaseError(f"{where}: {exc}. Run `nbgrader update {shown}` to upgrade the metadata.") from None
        except (NbgraderValidationError, KeyError) as exc:
            raise ReleaseError(f"{where}: nbgrader rejects the cell metadata: {_first_line(exc)}. "
                               "Fix it with Jupyter's Create Assignment toolbar.") from None
        if meta.get("grade") and not meta.get("solution"):
            points = meta.get("points")
            if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
                raise ReleaseError(f"{where}: test cell has no points (points = {points!r}). Give it a positive "
                                   "number of points in the Create Assignment toolbar (metadata nbgrader.points).")
        if meta.get("grade") or meta.get("solution") or meta.get("locked"):
            if grade_id in seen:
                raise ReleaseError(f"{where}: grade_id '{grade_id}' is also used by cell {seen[grade_id]}; "
                                   "every graded, solution or read-only cell needs its own grade_id.")
            seen[grade_id] = index


def _unbalanced(source: str, begin: str, end: str) -> str | None:
    """Why the begin/end markers of `source` do not pair up (nbgrader's rule: no nesting), or None."""
    open_line = None
    for number, line in enumerate(source.splitlines(), start=1):
        if begin in line:
            if open_line is not None:
                return f"`### {begin}` on line {number} while the one on line {open_line} is still open"
            open_line = number
        elif end in line:
            if open_line is None:
                return f"`### {end}` on line {number} without a `### {begin}` before it"
            open_line = None
    if open_line is not None:
        return f"`### {begin}` on line {open_line} is never closed"
    return None


# --------------------------------------------------------------------------- nbgrader

def _release_one(course: Course, name: str, source: Path, course_id: str) -> Released:
    from nbgrader.api import Gradebook
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log
    from traitlets.config import Config

    # Stage inside the course so the final swap is a rename on the same file system.
    staging = Path(tempfile.mkdtemp(prefix=".release-staging-", dir=course.root))
    try:
        config = Config()
        config.CourseDirectory.root = str(course.root)
        config.CourseDirectory.course_id = course_id
        config.CourseDirectory.db_url = course.db_url
        config.CourseDirectory.release_directory = str(staging)
        config.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", *NOT_RELEASED]
        config.CourseDirectory.assignment_id = name
        config.GenerateAssignment.force = True
        config.GenerateAssignment.create_assignment = True
        coursedir = CourseDirectory(config=config)
        # A private logger: nbgrader's chatter goes to the captured log, not the instructor's terminal.
        logger = logging.getLogger(f"autograder.release.nbgrader.{name}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        converter = GenerateAssignment(coursedir=coursedir, config=config, log=logger)
        result = capture_log(converter)
        staged = staging / "." / name
        notebook_name = source.name
        if not result.get("success") or not (staged / notebook_name).is_file():
            raise ReleaseError(f"nbgrader rejected {_shown(source, course.root)}: {_nbgrader_reason(result)}")

        target = course.release / name
        course.release.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.rename(staging / ".previous")
        (staging / name).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    with Gradebook(course.db_url, course_id) as gradebook:
        assignment = gradebook.find_assignment(name)
        graded = sum(len(notebook.grade_cells) for notebook in assignment.notebooks)
        max_score = float(assignment.max_score)
    return Released(name, target / notebook_name, graded, max_score)


def _nbgrader_reason(result: dict) -> str:
    """The most telling line of nbgrader's captured log and traceback, then the log's tail.

    nbgrader logs the real exception (e.g. ``RuntimeError: no end solution statement found``)
    and then raises a generic NbGraderException; the specific one is what the instructor needs.
    """
    lines = [line for line in (result.get("log", "") + "\n" + result.get("error", "")).splitlines() if line.strip()]
    exceptions = [line.strip() for line in lines
                  if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Warning)\b.*:", line.strip())
                  and "NbGraderException" not in line]
    errors = [line for line in lines if line.startswith("[ERROR]") and "Please see" not in line]
    reason = exceptions[-1] if exceptions else errors[-1] if errors else "no reason given"
    return f"{reason}\n--- nbgrader log (last lines) ---\n" + "\n".join(lines[-20:])


# --------------------------------------------------------------------------- helpers

def _select(course: Course, assignments: list[str] | None) -> list[str]:
    known = course.assignments()
    if not known:
        raise ReleaseError(f"no assignments in {course.source}: expected source/<assignment>/<assignment>.ipynb")
    if not assignments:
        return known
    unknown = [name for name in assignments if name not in known]
    if unknown:
        raise ReleaseError(f"unknown assignment(s) {', '.join(unknown)}; source/ has: {', '.join(known)}")
    return list(dict.fromkeys(assignments))


def _check_nbgrader_config(course: Course, course_id: str) -> None:
    """nbgrader's own commands read the course id from nbgrader_config.py: it must match course.toml."""
    path = course.root / "nbgrader_config.py"
    if not path.is_file():
        return
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader(path.name, path=str(course.root)).load_config()
    except Exception as exc:
        raise ReleaseError(f"{path}: cannot be loaded ({_first_line(exc)})") from None
    configured = config.get("CourseDirectory", {}).get("course_id")
    if configured and configured != course_id:
        raise ReleaseError(f"{path} sets course_id = {configured!r} but course.toml [course] id is {course_id!r}; "
                           "make them the same so nbgrader's commands and ours share one gradebook course.")


def _shown(path: Path, root: Path | None) -> str:
    try:
        return str(path.relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
