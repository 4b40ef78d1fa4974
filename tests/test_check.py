"""`autograder check`: a student's local run of the visible tests, with a real Jupyter kernel."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from autograder.check import main as check_main
from classroom.cli import main

try:
    from test_export import A, make_course
except ImportError:  # pragma: no cover
    from tests.test_export import A, make_course

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def released(tmp_path, tmp_path_factory):
    course = make_course(tmp_path, tmp_path_factory)
    return json.loads(course.release_notebook(A).read_text())


def write(tmp_path, nb, answers=None) -> str:
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if answers and gid in answers:
            cell["source"] = answers[gid]
    path = tmp_path / "student" / "demo.ipynb"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(nb))
    return str(path)


@pytest.mark.slow
def test_a_finished_notebook_passes_its_visible_tests(released, tmp_path, capsys):
    path = write(tmp_path, released, {"answer": "def answer():\n    return 42",
                                      "double": "def double(x):\n    return 2 * x"})
    before = pathlib.Path(path).read_bytes()
    assert main(["check", path]) == 0
    out = capsys.readouterr().out
    assert "passed  t1 (2 points)" in out and "passed  t2 (3 points)" in out
    assert "2 of 2 visible tests passed (5 of 5 points)" in out and "hidden tests" in out
    assert pathlib.Path(path).read_bytes() == before          # only read, never written


@pytest.mark.slow
def test_an_unfinished_notebook_says_which_tests_fail_and_why(released, tmp_path, capsys):
    path = write(tmp_path, released, {"double": "def double(x):\n    return x"})
    assert check_main([path]) == 1
    out = capsys.readouterr().out
    assert "FAILED  t1 (2 points): NotImplementedError" in out
    assert "FAILED  t2 (3 points): AssertionError" in out
    assert "0 of 2 visible tests passed" in out


def test_not_a_notebook_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "x.ipynb"
    bad.write_text("{not json")
    assert main(["check", str(bad)]) == 2
    assert "is not a readable notebook" in capsys.readouterr().err
    assert check_main([str(tmp_path / "missing.ipynb")]) == 2


def test_the_check_needs_none_of_the_heavy_parts(tmp_path):
    code = ("import sys; import autograder.check, classroom.cli; "
            "heavy = [m for m in ('torch', 'nbgrader', 'dask', 'distributed', 'sqlalchemy') if m in sys.modules]; "
            "print(heavy)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr
