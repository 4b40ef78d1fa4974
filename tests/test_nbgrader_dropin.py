"""nbgrader stays whole on a course graded by us: its own `export`, `generate_feedback` and
`autograde` (refused), run as an instructor would, on real gradebooks and real sandboxed runs.

The course is tiny (one assignment: two answers with hidden tests, one written answer for the
formgrader) and uses this repository's own nbgrader_config.py, so what is tested is what ships.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from _notebooks import tiny_source_notebook

from autograder.export import grade_rows
from autograder.grade import grade_batch
from autograder.gradebook import open_gradebook
from autograder.release import release
from coursebase.layout import Course
from coursebase.vocabulary import Flag, Status

# real nbgrader commands and a Jupyter Server: the slow tier
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = os.path.dirname(sys.executable)
A = "01_demo"
UTC = dt.timezone.utc
DUE = dt.datetime(2026, 12, 7, 23, 59, tzinfo=UTC)

POLICY = f"""
[course]
id = "pytorch-mlp"
grading_seed = 7

[limits]
cell_timeout = 30
notebook_timeout = 120
cpu_time = 120
memory_mb = 1024
processes = 32
file_size_mb = 16
disk_mb = 64
output_kb = 64
workers = 2

[late_policy]
kind = "per_day"
per_day = 0.1
max_penalty = 0.5
grace_minutes = 0

[assignments.{A}]
due = "{DUE.isoformat()}"

[extensions]
ext = {{ {A} = "2026-12-20T23:59:00+00:00" }}

[weights]
{A} = 100
"""


STUDENTS = {
    # student: (answers, submitted at)
    "good": ({"answer": "def answer():\n    return 42", "double": "def double(x):\n    return 2 * x",
              "why": "Because Douglas Adams said so."}, DUE - dt.timedelta(hours=3)),
    "late": ({"answer": "def answer():\n    return 42", "double": "def double(x):\n    return 2 * x"},
             DUE + dt.timedelta(days=1, hours=2)),          # 2 started days: 2 * 10 % of 6 points
    "ext": ({"answer": "def answer():\n    return 42"}, DUE + dt.timedelta(days=3)),   # within the extension
    "half": ({"answer": "def answer():\n    return 41", "double": "def double(x):\n    return 2 * x"},
             DUE - dt.timedelta(days=1)),
    "slow": ({}, DUE + dt.timedelta(hours=5)),     # late, nothing done: the penalty is capped at 0 points
}


def jupyter_env() -> dict:
    """PATH with this venv, and Jupyter's data path including where nbconvert's templates were installed
    (a venv layered over another installation does not see them by itself)."""
    import nbconvert

    data = Path(nbconvert.__file__).resolve().parents[4] / "share" / "jupyter"
    paths = [p for p in (os.environ.get("JUPYTER_PATH"), str(data) if data.is_dir() else None) if p]
    return {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "JUPYTER_PATH": os.pathsep.join(paths)}


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """nbgrader's own command line, run from the course folder as nbgrader expects."""
    return subprocess.run([os.path.join(BIN, "nbgrader"), *args], check=False, cwd=course,
                          capture_output=True, text=True, timeout=600, env=jupyter_env())


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dropin") / "course"
    (root / "source" / A).mkdir(parents=True)
    nbformat.write(tiny_source_notebook(written_answer=True), root / "source" / A / "demo.ipynb")
    (root / "course.toml").write_text(POLICY)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    course = Course.at(root)
    release(course, None)
    released = json.loads((root / "release" / A / "demo.ipynb").read_text())
    with open_gradebook(course.db_url) as gb:
        for student in STUDENTS:
            gb.add_student(student, first_name="Ann", last_name=student.title())
    for student, (answers, when) in STUDENTS.items():
        nb = json.loads(json.dumps(released))
        for cell in nb["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if gid in answers:
                cell["source"] = answers[gid]
        folder = root / "submitted" / student / A
        folder.mkdir(parents=True)
        (folder / "demo.ipynb").write_text(json.dumps(nb))
        (folder / "timestamp.txt").write_text(when.isoformat())
    summary = grade_batch(course, A, quiet=True)
    assert summary is not None and len(summary.graded) == len(STUDENTS)
    return root


def ours(course: Path) -> dict:
    return {r.student_id: r for r in grade_rows(Course.at(course), assignments=[A])}


def test_autograded_notebooks_are_where_nbgrader_expects_them(graded):
    nb = nbformat.read(graded / "autograded" / "good" / A / "demo.ipynb", as_version=4)
    nbformat.validate(nb)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    # the instructor's test source (hidden tests in), the student's answer, outputs from our run
    assert "HIDDEN-MARKER-t2" in by_id["t2"].source
    assert by_id["answer"].source == "def answer():\n    return 42"
    assert any("visible check of double" in o.get("text", "") for o in by_id["t2"].outputs)
    assert by_id["t2"].metadata["nbgrader"]["points"] == 3
    assert nb.metadata["kernelspec"]["name"] == "python3"
    half = nbformat.read(graded / "autograded" / "half" / A / "demo.ipynb", as_version=4)
    t1 = next(c for c in half.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "t1")
    assert [o.output_type for o in t1.outputs] == ["error"]
    # an answer left as released gets nbgrader's "No response." comment
    with open_gradebook(Course.at(graded).db_url) as gb:
        comment = gb.find_comment("double", "demo", A, "ext")
        assert comment.auto_comment == "No response."
        assert gb.find_comment("double", "demo", A, "good").auto_comment is None


def test_nbgrader_export_agrees_with_ours_on_scores_penalties_and_due_dates(graded, tmp_path):
    out = tmp_path / "nbgrader_grades.csv"
    run = nbgrader(graded, "export", f"--to={out}")
    assert run.returncode == 0, run.stdout + run.stderr
    with out.open(newline="") as fh:
        theirs = {row["student_id"]: row for row in csv.DictReader(fh) if row["assignment"] == A}
    mine = ours(graded)
    assert set(theirs) == set(STUDENTS)
    expected_penalty = {"good": 0.0, "late": 1.2, "ext": 0.0, "half": 0.0, "slow": 0.0}
    for student, row in theirs.items():
        r = mine[student]
        assert float(row["raw_score"]) == pytest.approx(r.raw_score), student
        assert float(row["late_submission_penalty"]) == pytest.approx(r.late_penalty), student
        assert float(row["score"]) == pytest.approx(r.score), student
        assert float(row["max_score"]) == pytest.approx(r.max_score), student
        assert r.late_penalty == pytest.approx(expected_penalty[student]), student
        assert dt.datetime.fromisoformat(row["duedate"]).replace(tzinfo=UTC) == DUE, student
    # the written answer waits for the formgrader: 5 of 6 auto points for good, 2 * 10 % of 6 off for late
    assert mine["good"].raw_score == 5.0 and mine["late"].score == pytest.approx(3.8)
    assert mine["half"].raw_score == 3.0
    # the extension is in the gradebook too: nbgrader does not count `ext` as late
    with open_gradebook(Course.at(graded).db_url) as gb:
        sub = gb.find_submission(A, "ext")
        assert sub.total_seconds_late == 0 and gb.find_submission(A, "late").total_seconds_late > 0


def test_nbgrader_generate_feedback_works_and_hides_hidden_tests(graded):
    run = nbgrader(graded, "generate_feedback", A, "--force")
    assert run.returncode == 0, run.stdout + run.stderr
    for student in STUDENTS:
        page = (graded / "feedback" / student / A / "demo.html").read_text()
        assert "HIDDEN-MARKER" not in page, student
        assert "visible check of double" in page
    assert "Score: 3.0 / 6.0" in (graded / "feedback" / "half" / A / "demo.html").read_text().replace("\n", " ") \
        or "3.0 / 6.0" in (graded / "feedback" / "half" / A / "demo.html").read_text()


def test_nbgrader_autograde_refuses_and_changes_nothing(graded):
    course = Course.at(graded)
    before = (graded / "autograded" / "half" / A / "demo.ipynb").read_bytes()
    scores_before = {s: r.raw_score for s, r in ours(graded).items()}
    run = nbgrader(graded, "autograde", A, "--force")
    assert run.returncode != 0
    assert "autograde is switched off in this course" in run.stdout + run.stderr
    assert "autograder grade" in run.stdout + run.stderr
    assert (graded / "autograded" / "half" / A / "demo.ipynb").read_bytes() == before
    assert {s: r.raw_score for s, r in ours(graded).items()} == scores_before
    # the formgrader's route (nbgrader's Python API) refuses the same way
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(graded)).load_config()
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.autograde(A, "half")
    assert result["success"] is False and "switched off" in result["error"] + result.get("log", "")
    assert (graded / "autograded" / "half" / A / "demo.ipynb").read_bytes() == before
    assert course.gradebook_path == graded / "gradebook.db"


def test_a_score_we_did_not_write_is_flagged_and_regraded(graded):
    course = Course.at(graded)
    with open_gradebook(course.db_url) as gb:
        gb.find_grade("t1", "demo", A, "half").auto_score = 2.0   # as nbgrader's own autograde would
        gb.db.commit()
    row = ours(graded)["half"]
    assert Flag.TAMPERED.value in row.flags and "t1" in row.flags[Flag.TAMPERED.value]
    summary = grade_batch(course, A, quiet=True)
    assert [r.student_id for r in summary.graded] == ["half"]          # not "up to date"
    row = ours(graded)["half"]
    assert row.raw_score == 3.0 and Flag.TAMPERED.value not in row.flags and row.status == Status.GRADED


def test_a_copied_course_uses_its_own_gradebook(graded, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(graded, copy)
    assert Course.at(copy).gradebook_path == copy / "gradebook.db"
    with open_gradebook(Course.at(copy).db_url) as gb:
        gb.find_student("good").first_name = "Copied"
        gb.db.commit()
    with open_gradebook(Course.at(graded).db_url) as gb:
        assert gb.find_student("good").first_name == "Ann"
    run = nbgrader(copy, "db", "student", "list")
    assert run.returncode == 0 and "Copied" in run.stdout + run.stderr


def nbgrader_export(course: Path, out: Path) -> dict[str, dict[str, str]]:
    run = nbgrader(course, "export", f"--to={out}")
    assert run.returncode == 0, run.stdout + run.stderr
    with out.open(newline="") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh) if row["assignment"] == A}


def test_a_hand_grade_reprices_the_penalty_in_both_exports(graded, tmp_path):
    from autograder.override import override

    course = Course.at(graded)
    # the formgrader writes a manual score for the written answer of a late, otherwise empty submission
    with open_gradebook(course.db_url) as gb:
        gb.find_grade("why", "demo", A, "slow").manual_score = 1.0
        gb.db.commit()
    summary = grade_batch(course, A, quiet=True)           # nothing to run, the penalty is re-priced
    assert summary.graded == []
    row = ours(graded)["slow"]
    assert (row.raw_score, row.late_penalty, row.score) == (1.0, 0.6, 0.4)
    theirs = nbgrader_export(graded, tmp_path / "a.csv")["slow"]
    assert (float(theirs["late_submission_penalty"]), float(theirs["score"])) == (0.6, pytest.approx(0.4))
    # an override re-prices at once
    override(course, "slow", A, "t1", 0.5, "partial credit for a close answer", show=False)
    row = ours(graded)["slow"]
    assert (row.raw_score, row.late_penalty) == (1.5, 0.6) and Flag.OVERRIDE.value in row.flags
    theirs = nbgrader_export(graded, tmp_path / "b.csv")["slow"]
    assert float(theirs["raw_score"]) == 1.5 and float(theirs["score"]) == pytest.approx(0.9)


def test_the_formgrader_http_api_shows_our_scores_and_due_dates_and_grades_by_hand(graded):
    """A real Jupyter Server on loopback with nbgrader's formgrader, driven over HTTP."""
    import secrets
    import socket
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    server = subprocess.Popen(
        [os.path.join(BIN, "jupyter"), "server", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False", f"--ServerApp.root_dir={graded}",
         "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=True",
         "--allow-root"],   # test machines may run as root; the server listens on loopback only
        cwd=graded, env={**jupyter_env(), "JUPYTER_RUNTIME_DIR": str(graded.parent / "runtime")},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"

    def call(path: str, method: str = "GET", body: dict | None = None):
        request = urllib.request.Request(base + path, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            text = reply.read().decode()
            return json.loads(text) if path.startswith("/formgrader/api/") else text

    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                call("/formgrader/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "the Jupyter Server did not start in 180 s"
                time.sleep(1)
        mine = ours(graded)
        submissions = {s["student"]: s for s in call(f"/formgrader/api/submissions/{A}")}
        assert set(submissions) == set(STUDENTS)
        for student, sub in submissions.items():
            assert sub["autograded"] is True, student                      # was "needs autograding"
            assert sub["score"] == pytest.approx(mine[student].raw_score), student
        assert dt.datetime.fromisoformat(call(f"/formgrader/api/assignment/{A}")["duedate"]) \
            .replace(tzinfo=UTC) == DUE
        # the manual grading page of a submission renders (it was HTTP 500) with the student's own code
        notebooks = {n["student"]: n for n in call(f"/formgrader/api/submitted_notebooks/{A}/demo")}
        page = call(f"/formgrader/submissions/{notebooks['good']['id']}")
        assert "Because Douglas Adams said so." in page
        # grading the written answer by hand, as the formgrader's page does
        grades = {g["name"]: g for g in call(f"/formgrader/api/grades?submission_id={notebooks['good']['id']}")}
        why = grades["why"]
        why["manual_score"] = 1.0
        call(f"/formgrader/api/grade/{why['id']}", method="PUT", body=why)
        assert ours(graded)["good"].raw_score == 6.0
        # its Autograde button is refused with the reason
        reply = call(f"/formgrader/api/submission/{A}/half/autograde", method="POST", body={})
        assert reply["success"] is False and "switched off" in reply["error"] + reply.get("log", "")
        assert ours(graded)["half"].raw_score == mine["half"].raw_score
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
