"""autograder/release.py: source/ -> release/ with nbgrader, recorded in the gradebook.

Real nbgrader, real gradebooks, temporary course directories built from this repository.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from _assignment_helpers import ASSIGNMENTS, REPO, copy_course, is_test_cell, nbgrader_cells, notebook_path
from rich.console import Console

from autograder.release import ReleaseError, check_source_notebook, release
from coursebase.layout import Course

FORBIDDEN_NUMBERS = ("118282", "570602")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A temp copy of this course, released once: (course dir, what release() printed, returned paths)."""
    course = copy_course(tmp_path_factory.mktemp("released") / "course")
    out = io.StringIO()
    paths = release(Course.at(course), None, console=Console(file=out, width=200))
    return course, out.getvalue(), paths


@pytest.fixture
def course_copy(released, tmp_path):
    """A private, already released copy (gradebook included) that a test may break."""
    course, _, _ = released
    return Path(shutil.copytree(course, tmp_path / "course"))


# --------------------------------------------------------------------------- staleness

@pytest.mark.slow
def test_committed_release_is_what_release_generates_byte_for_byte(released):
    course, _, _ = released
    fresh, committed = snapshot(course / "release"), snapshot(REPO / "release")
    stale = sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))
    assert not stale, (f"release/ is stale ({', '.join(stale)} differ from what source/ generates). "
                       "Run `autograder release` and commit release/.")


@pytest.mark.slow
def test_releasing_again_changes_nothing(course_copy):
    before = snapshot(course_copy / "release")
    release(Course.at(course_copy), None, console=Console(file=io.StringIO()))
    assert snapshot(course_copy / "release") == before


# --------------------------------------------------------------------------- what release() does

@pytest.mark.slow
def test_release_returns_the_released_notebooks_and_prints_one_line_each(released):
    course, printed, paths = released
    assert paths == [notebook_path(course, "release", name) for name in ASSIGNMENTS]
    lines = [line for line in printed.splitlines() if line.strip()]
    assert len(lines) == len(ASSIGNMENTS)
    for line, name in zip(lines, ASSIGNMENTS):
        points = sum(cell.metadata["nbgrader"]["points"] for cell in _source(name).cells if is_test_cell(cell))
        assert line.startswith(f"released {name}:") and f"{points} points" in line
        assert f"release/{name}/{name}.ipynb" in line


@pytest.mark.slow
def test_release_records_every_assignment_and_cell_in_the_gradebook(released):
    from nbgrader.api import Gradebook

    course, _, _ = released
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for name in ASSIGNMENTS:
            assignment = gradebook.find_assignment(name)
            [notebook] = assignment.notebooks
            assert notebook.name == name
            cells = nbgrader_cells(_source(name))
            tests = {gid: cell.metadata["nbgrader"]["points"] for gid, cell in cells.items() if is_test_cell(cell)}
            assert {cell.name: cell.max_score for cell in notebook.grade_cells} == tests
            solutions = {gid for gid, cell in cells.items() if cell.metadata["nbgrader"]["solution"]}
            assert {cell.name for cell in notebook.solution_cells} == solutions
            locked = {gid for gid, cell in cells.items() if cell.metadata["nbgrader"]["locked"]}
            assert {cell.name for cell in notebook.source_cells if cell.locked} == locked
            assert assignment.max_score == sum(tests.values())


@pytest.mark.slow
def test_release_of_named_assignments_leaves_the_others_alone(course_copy):
    others = {name: snapshot(course_copy / "release" / name) for name in ASSIGNMENTS if name != "02_dot_product"}
    mtimes = {name: (course_copy / "release" / name / f"{name}.ipynb").stat().st_mtime_ns for name in others}
    paths = release(Course.at(course_copy), ["02_dot_product"], console=Console(file=io.StringIO()))
    assert paths == [notebook_path(course_copy, "release", "02_dot_product")]
    for name, files in others.items():
        assert snapshot(course_copy / "release" / name) == files
        assert (course_copy / "release" / name / f"{name}.ipynb").stat().st_mtime_ns == mtimes[name]


@pytest.mark.slow
def test_cli_release_works_without_the_venv_on_path(tmp_path):
    """nbgrader shells out to `alembic` for a new gradebook: release() puts the interpreter's bin on PATH."""
    course = copy_course(tmp_path / "course")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    env.pop("NBGRADER_EXECUTION", None)
    run = subprocess.run([sys.executable, "-m", "classroom.cli", "--course", str(course), "release", "02_dot_product"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "released 02_dot_product" in run.stdout
    assert (course / "gradebook.db").is_file()
    assert snapshot(course / "release") == {k: v for k, v in snapshot(REPO / "release").items()
                                            if k.startswith("02_dot_product/")}


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_instructor_files_beside_the_mlp_notebook_are_not_released(course_copy):
    source = course_copy / "source" / "04_mlp_fashion_mnist"
    (source / "data").mkdir()
    (source / "data" / "train.csv").write_text("label,pixel1\n1,0\n")
    (source / "submission.csv").write_text("Id,Category\n1,1\n")
    release(Course.at(course_copy), ["04_mlp_fashion_mnist"], console=Console(file=io.StringIO()))
    assert sorted(snapshot(course_copy / "release" / "04_mlp_fashion_mnist")) == ["04_mlp_fashion_mnist.ipynb"]


# --------------------------------------------------------------------------- what students get

def _source(name: str):
    return nbformat.read(notebook_path(REPO, "source", name), as_version=4)


def _without_hidden_tests(source: str) -> str:
    kept, hiding = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            hiding = True
        elif "END HIDDEN TESTS" in line:
            hiding = False
        elif not hiding:
            kept.append(line)
    return "\n".join(kept)


def _public_and_secret_lines(name: str) -> tuple[set[str], set[str]]:
    """Stripped code lines of source/<name>: those students may see, and those only inside
    solution or hidden-test blocks (short lines like `return t` are no evidence either way)."""
    public, secret = set(), set()
    for cell in _source(name).cells:
        if cell.cell_type != "code":
            continue
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                inside = False
            else:
                (secret if inside else public).add(line.strip())
    return public, {line for line in secret - public if len(line) >= 16}


def _leaks(name: str, released_text: str) -> list[str]:
    """Secret lines of source/<name>, markers and answer numbers that appear in `released_text`."""
    _, secret = _public_and_secret_lines(name)
    present = {line.strip() for line in released_text.splitlines()}
    leaks = sorted(secret & present)
    leaks += [marker for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
              if marker in released_text]
    leaks += [number for number in FORBIDDEN_NUMBERS if number in released_text]
    return leaks


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_released_notebook_holds_no_solution_hidden_test_or_answer_number(name):
    path = notebook_path(REPO, "release", name)
    raw = path.read_text(encoding="utf-8")
    cells = nbformat.reads(raw, as_version=4).cells
    # Solution and hidden-test lines are looked for in code; markdown may spell out what to type.
    assert _leaks(name, "\n".join(cell.source for cell in cells if cell.cell_type == "code")) == []
    assert _leaks(name, "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
                  ).count("BEGIN SOLUTION") == 0
    assert not any(number in raw for number in FORBIDDEN_NUMBERS)  # not even escaped in the JSON


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_leak_check_does_find_leaks_in_the_instructor_version(name):
    sources = "\n".join(cell.source for cell in _source(name).cells if cell.cell_type == "code")
    assert "BEGIN SOLUTION" in _leaks(name, sources)
    assert len(_leaks(name, sources)) > 4


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_released_answer_cells_are_stubs_and_test_cells_keep_their_visible_part(name):
    source, released = nbgrader_cells(_source(name)), nbgrader_cells(nbformat.read(notebook_path(REPO, "release", name), 4))
    assert source.keys() == released.keys()
    for grade_id, cell in source.items():
        meta = cell.metadata["nbgrader"]
        if meta["solution"]:
            assert "raise NotImplementedError()" in released[grade_id].source
        elif is_test_cell(cell):
            assert released[grade_id].source == _without_hidden_tests(cell.source)
            assert released[grade_id].metadata["nbgrader"]["points"] == meta["points"]
        else:
            assert released[grade_id].source == cell.source  # given code reaches students unchanged
            assert released[grade_id].metadata["nbgrader"]["locked"]


# --------------------------------------------------------------------------- bad input

def _assert_nothing_changed(course: Path, before_release: dict, before_source: dict, gradebook_digest: str):
    assert snapshot(course / "release") == before_release
    assert snapshot(course / "source") == before_source
    assert digest(course / "gradebook.db") == gradebook_digest
    assert not list(course.glob(".release-staging-*"))


@pytest.mark.slow
def test_broken_json_names_the_file_and_line_and_changes_nothing(course_copy):
    broken = notebook_path(course_copy, "source", "02_dot_product")
    text = broken.read_text(encoding="utf-8")
    broken.write_text(text[: len(text) // 2], encoding="utf-8")  # a notebook cut off mid-save
    before = snapshot(course_copy / "release"), snapshot(course_copy / "source"), digest(course_copy / "gradebook.db")
    with pytest.raises(ReleaseError) as error:
        release(Course.at(course_copy), None, console=Console(file=io.StringIO()))
    message = str(error.value)
    assert "source/02_dot_product/02_dot_product.ipynb" in message
    assert "not valid JSON" in message and "line" in message and "git checkout" in message
    _assert_nothing_changed(course_copy, *before)


@pytest.mark.slow
def test_test_cell_without_points_names_the_file_and_cell_and_changes_nothing(course_copy):
    path = notebook_path(course_copy, "source", "03_parameter_count")
    nb = json.loads(path.read_text(encoding="utf-8"))
    index, cell = next((i, c) for i, c in enumerate(nb["cells"], start=1)
                       if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_q3_linear")
    del cell["metadata"]["nbgrader"]["points"]
    path.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
    before = snapshot(course_copy / "release"), snapshot(course_copy / "source"), digest(course_copy / "gradebook.db")
    with pytest.raises(ReleaseError) as error:
        release(Course.at(course_copy), None, console=Console(file=io.StringIO()))
    message = str(error.value)
    assert f"source/03_parameter_count/03_parameter_count.ipynb, cell {index} (grade_id 'test_q3_linear')" in message
    assert "points" in message
    _assert_nothing_changed(course_copy, *before)


def test_zero_points_is_rejected_too(tmp_path):
    nb = nbformat.read(notebook_path(REPO, "source", "02_dot_product"), as_version=4)
    nbgrader_cells(nb)["test_step2_concatenate"].metadata["nbgrader"]["points"] = 0
    path = tmp_path / "02_dot_product.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ReleaseError, match=r"test_step2_concatenate.*no points"):
        check_source_notebook(path, tmp_path)


def test_duplicate_grade_ids_name_both_cells(tmp_path):
    nb = nbformat.read(notebook_path(REPO, "source", "02_dot_product"), as_version=4)
    nbgrader_cells(nb)["test_step2_concatenate"].metadata["nbgrader"]["grade_id"] = "test_step1_elementwise"
    path = tmp_path / "02_dot_product.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ReleaseError, match=r"grade_id 'test_step1_elementwise' is also used by cell \d+"):
        check_source_notebook(path, tmp_path)


def test_unclosed_solution_block_names_the_cell_and_line(tmp_path):
    nb = nbformat.read(notebook_path(REPO, "source", "02_dot_product"), as_version=4)
    answer = nbgrader_cells(nb)["step2_concatenate"]
    answer.source = answer.source.replace("### END SOLUTION", "")
    index = nb.cells.index(answer) + 1
    path = tmp_path / "02_dot_product.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ReleaseError) as error:
        check_source_notebook(path, tmp_path)
    assert str(error.value).startswith(f"02_dot_product.ipynb, cell {index} (grade_id 'step2_concatenate'): "
                                       "`### BEGIN SOLUTION` on line 1 is never closed")


def test_solution_block_outside_an_answer_cell_is_refused(tmp_path):
    nb = nbformat.read(notebook_path(REPO, "source", "02_dot_product"), as_version=4)
    given = nbgrader_cells(nb)["given_tensors"]
    given.source += "\n### BEGIN SOLUTION\nC = A\n### END SOLUTION"
    path = tmp_path / "02_dot_product.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ReleaseError, match=r"grade_id 'given_tensors'\): has a `### BEGIN SOLUTION` block but is not"):
        check_source_notebook(path, tmp_path)


@pytest.mark.slow
# nbgrader's own add_submission trips a harmless SQLAlchemy 2 autoflush warning inside nbgrader.
@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
def test_change_nbgrader_refuses_keeps_the_previous_release(course_copy):
    """Once students submitted, nbgrader refuses to add or remove graded cells: our checks cannot know
    that, nbgrader's own does, and the error still names the notebook while release/ stays as it was."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_copy / 'gradebook.db'}", "pytorch-mlp") as gradebook:
        gradebook.add_student("s001")
        gradebook.add_submission("02_dot_product", "s001")
    path = notebook_path(course_copy, "source", "02_dot_product")
    nb = nbformat.read(path, as_version=4)
    nb.cells.remove(nbgrader_cells(nb)["test_step4_function"])
    nbformat.write(nb, path)
    before_release, before_source = snapshot(course_copy / "release"), snapshot(course_copy / "source")
    with pytest.raises(ReleaseError) as error:
        release(Course.at(course_copy), ["02_dot_product"], console=Console(file=io.StringIO()))
    first_line = str(error.value).splitlines()[0]
    assert first_line.startswith("nbgrader rejected source/02_dot_product/02_dot_product.ipynb: RuntimeError: ")
    assert "because there are submissions associated with it" in first_line
    assert snapshot(course_copy / "release") == before_release  # nbgrader alone would have deleted it
    assert snapshot(course_copy / "source") == before_source
    assert not list(course_copy.glob(".release-staging-*"))


def test_unknown_assignment_lists_the_known_ones(tmp_path):
    course = copy_course(tmp_path / "course")
    with pytest.raises(ReleaseError, match=r"unknown assignment\(s\) 05_cnn; source/ has: 01_tensors, 02_dot_product"):
        release(Course.at(course), ["05_cnn"], console=Console(file=io.StringIO()))
    assert not (course / "release").exists() and not (course / "gradebook.db").exists()


def test_course_id_mismatch_with_nbgrader_config_is_refused(tmp_path):
    course = copy_course(tmp_path / "course")
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text().replace('course_id = "pytorch-mlp"', 'course_id = "other-course"'))
    with pytest.raises(ReleaseError, match=r"course_id = 'other-course' but course.toml \[course\] id is 'pytorch-mlp'"):
        release(Course.at(course), None, console=Console(file=io.StringIO()))
    assert not (course / "release").exists()


def test_cli_reports_a_release_error_and_exits_2(tmp_path):
    from classroom.cli import main

    course = copy_course(tmp_path / "course")
    notebook_path(course, "source", "01_tensors").write_text("{", encoding="utf-8")
    assert main(["--course", str(course), "release", "01_tensors"]) == 2
