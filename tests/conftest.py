"""Shared fixtures: real course directories with real nbgrader gradebooks.

Building a gradebook runs nbgrader (and alembic), so each distinct course is
built once per session and copied for every test that needs it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coursebase.answers import reference_answers, student_notebook

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT.parent / "shared" / "peer" / "nbgrader"  # optional: tests using it skip without it
FIXTURES = Path(__file__).parent / "fixtures"
BIN = os.path.dirname(sys.executable)
os.environ["PATH"] = BIN + os.pathsep + os.environ.get("PATH", "")

TEST_POLICY = """
[course]
id = "test-course"
grading_seed = 1234

[limits]
cell_timeout = 8
notebook_timeout = 40
cpu_time = 60
memory_mb = 1024
processes = 32
file_size_mb = 16
disk_mb = 64
output_kb = 64
workers = 2
"""


def build_course(root: Path, assignments: dict[str, Path], policy: str = TEST_POLICY) -> Path:
    """A course at ``root`` whose source/<name>/ holds each given notebook, released with nbgrader."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'test-course'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{root}/gradebook.db'\n")
    (root / "course.toml").write_text(policy)
    for name, notebook in assignments.items():
        (root / "source" / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, root / "source" / name / notebook.name)
        run = subprocess.run([os.path.join(BIN, "nbgrader"), "generate_assignment", name, "--force"],
                             cwd=root, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    return root


def copy_course(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    cfg = dest / "nbgrader_config.py"
    cfg.write_text(cfg.read_text().replace(str(template), str(dest)))
    return dest


def submit(course: Path, student: str, assignment: str, notebook, extra: dict[str, bytes] | None = None,
           timestamp: str = "2026-12-01T12:00:00+00:00") -> Path:
    """Put a submission in place the way `autograder collect` leaves it."""
    release = next((course / "release" / assignment).glob("*.ipynb"))
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / release.name
    if isinstance(notebook, (str, Path)) and Path(notebook).exists():
        shutil.copy(notebook, target)
    elif isinstance(notebook, bytes):
        target.write_bytes(notebook)
    else:
        target.write_text(json.dumps(notebook))
    for name, content in (extra or {}).items():
        (folder / name).write_bytes(content)
    (folder / "timestamp.txt").write_text(timestamp)
    return folder


def released(course: Path, assignment: str) -> dict:
    return json.loads(next((course / "release" / assignment).glob("*.ipynb")).read_text())


# A copy of a notebook whose cells with these grade_ids have this source (coursebase.answers owns it; the demo uses it too).
with_answers = student_notebook


@pytest.fixture(scope="session")
def peer_template(tmp_path_factory) -> Path:
    """nbgrader's own test assignment (the peer corpus) as a released course."""
    if not PEER.exists():
        pytest.skip("the peer corpus (../shared/peer/nbgrader) is not here")
    return build_course(tmp_path_factory.mktemp("peer") / "course", {"ps1": PEER / "submitted-unchanged.ipynb"})


@pytest.fixture
def peer_course(peer_template, tmp_path) -> Path:
    return copy_course(peer_template, tmp_path / "course")


def solved(release_nb: dict, source_nb: dict) -> dict:
    """The released notebook with every answer cell filled in from the source's solution, as a
    diligent student would hand it in (solution markers removed, tests left as released)."""
    return student_notebook(release_nb, reference_answers(source_nb))
