"""The whole course cycle, end to end: `autograder demo` with the compact cohort of 7 students.

Every kind of submission is in it: perfect, partial, empty, a kernel crash, an endless
loop, a memory hog, three cheating attempts, a copied leaderboard file, the sample
submission, a late one and a missing one. The test then checks every student's final
status and grade against what their submission deserves, computed here on its own:
points from the source notebooks' cell metadata, weights, late policy and thresholds
from course.toml, the leaderboard accuracy from the collected submission.csv and the
competition's answer key. Nothing is read back from the demo's or the grader's code.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import shutil

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]
from pathlib import Path

import pytest

from classroom.demo import DemoError
from classroom.demo.cohort import Training, Work, answer_sources, cohort
from classroom.demo.course import DEMO_LIMITS, rewrite_limits
from classroom.demo.dataset import find_dataset
from classroom.demo.runner import run_demo
from classroom.demo.students import set_training
from coursebase.layout import Course
from coursebase.policy import load_policy, parse_policy
from leaderboard.standin import synthetic_fashion

ROOT = Path(__file__).resolve().parents[1]
A1, A2, A3, A4 = "01_tensors", "02_dot_product", "03_parameter_count", "04_mlp_fashion_mnist"
A5, A6 = "05_concept_check", "06_one_neuron"
ASSIGNMENTS = (A1, A2, A3, A4, A5, A6)

# What each student of the compact cohort hands in, and the test cells it must lose.
PARTIAL_LOSES = {A1: {"test_q3_arange", "test_q7_indexing", "test_q8_multiplication"},
                 A2: {"test_step2_concatenate", "test_step3_dot_product"},
                 A3: {"test_q1_count_parameters"},
                 A4: {"test_evaluate", "test_make_loader"},
                 A5: {"test_q2_terms", "test_q4_losses"},
                 A6: {"test_q2_threshold"}}
CRASH_KEEPS = {"test_q1_from_list", "test_q2_constant_tensors", "test_q3_arange", "test_q4_random",
               "test_q5_shape_dtype"}                       # os._exit at question 6
EVERYTHING = "all"


def expected_work(student: str) -> dict[str, tuple[str, object]]:
    """assignment -> (status, cells lost or kept) for one student of the compact cohort."""
    full = {a: ("graded", set()) for a in ASSIGNMENTS}
    return {
        "s01": full,
        "s02": {a: ("graded", PARTIAL_LOSES[a]) for a in ASSIGNMENTS},
        "s03": {a: ("graded", EVERYTHING) for a in ASSIGNMENTS},
        "s04": {A1: ("crashed", ("keeps", CRASH_KEEPS)), A2: ("timeout", {"test_step3_dot_product"}),
                A3: ("graded", {"test_q4_make_mlp"}), A4: ("graded", set()), A5: ("graded", set()),
                A6: ("graded", set())},
        "s05": {a: ("graded", EVERYTHING) for a in ASSIGNMENTS},
        "s06": full,
        "s07": {**full, A3: ("missing", None)},
    }[student]


LATE = {"s06": {A1: dt.timedelta(days=1.5), A4: dt.timedelta(days=0.5)}}
CSV_FROM = {"s01": "own", "s02": "own", "s03": "sample", "s04": "own", "s05": "copy", "s06": "own", "s07": "none"}
ATTACKS = {("s04", A1), ("s05", A1), ("s05", A2), ("s05", A3)}
COPY_PAIR = {"s04", "s05"}


def test_points(assignment: str) -> dict[str, float]:
    nb = json.loads((ROOT / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    points = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            points[meta["grade_id"]] = float(meta["points"])
    return points


test_points.__test__ = False   # a helper, not a test


def deserved_score(assignment: str, lost) -> float:
    points = test_points(assignment)
    if lost == EVERYTHING:
        return 0.0
    if isinstance(lost, tuple):                     # ("keeps", cells)
        return sum(points[c] for c in lost[1])
    assert lost <= set(points), f"unknown cells {lost - set(points)}"
    return sum(v for c, v in points.items() if c not in lost)


def late_penalty(policy: dict, delay: dt.timedelta, max_score: float) -> float:
    late = policy["late_policy"]
    grace = dt.timedelta(minutes=late["grace_minutes"])
    if delay <= grace:
        return 0.0
    days = math.ceil((delay - grace) / dt.timedelta(days=1))
    return round(max_score * min(late["per_day"] * days, late["max_penalty"]), 6)


def private_accuracy(course: Path, student: str) -> float | None:
    path = course / "submitted" / student / A4 / "submission.csv"
    if not path.is_file():
        return None
    with (course / "competition" / "private" / "solution.csv").open(encoding="utf-8") as fh:
        truth = {int(r["Id"]): (int(r["Category"]), r["Usage"]) for r in csv.DictReader(fh)}
    with path.open(encoding="utf-8") as fh:
        predicted = {int(r["Id"]): int(r["Category"]) for r in csv.DictReader(fh)}
    private = [i for i, (_, usage) in truth.items() if usage == "Private"]
    return sum(predicted[i] == truth[i][0] for i in private) / len(private)


def board_points(policy: dict, accuracy: float | None) -> float:
    board = policy["leaderboard"]
    if accuracy is None:
        return 0.0
    points = float(board["floor_points"])
    for threshold, value in board["thresholds"]:
        if accuracy >= threshold - 1e-12:
            points = float(value)
    return points


def board_expected(policy: dict, student: str, accuracy: float | None) -> float:
    """The leaderboard points after the course's late policy: a CSV handed in late is priced like any late
    work, on the leaderboard's points (never more than the points themselves)."""
    points = board_points(policy, accuracy)
    delay = LATE.get(student, {}).get(policy["leaderboard"]["assignment"])
    if not delay or not points:
        return points
    return round(points - min(points, late_penalty(policy, delay, float(policy["leaderboard"]["max_points"]))), 6)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "course"
    # download=False: a test never reaches for the internet; without Fashion-MNIST on disk the
    # demo uses its built-in stand-in (the fallback itself is tested below on a closed local port)
    assert run_demo(root, students=7, download=False) == 0
    return root


@pytest.fixture(scope="module")
def policy(course) -> dict:
    return tomllib.loads((course / "course.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(course) -> dict[str, dict]:
    with (course / "exports" / "final_grades.csv").open(encoding="utf-8") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


@pytest.mark.slow
def test_the_demo_course_has_short_limits_and_every_assignment(course, policy):
    assert policy["limits"]["cell_timeout"] == 10
    assert policy["limits"]["notebook_timeout"] == 60
    assert policy["limits"]["memory_mb"] == 1024
    for assignment in ASSIGNMENTS:
        assert (course / "release" / assignment / f"{assignment}.ipynb").is_file()
    # the simulated students uploaded zips laid out like an LMS download
    for assignment in ASSIGNMENTS:
        assert (course / "demo" / "lms" / f"{assignment}.zip").is_file()


@pytest.mark.slow
def test_every_student_gets_what_their_notebooks_deserve(course, policy, final):
    assert sorted(final) == [f"s0{i}" for i in range(1, 8)]
    for student, row in final.items():
        for assignment, (status, lost) in expected_work(student).items():
            where = f"{student} {assignment}"
            assert row[f"{assignment}:status"] == status, where
            if status == "missing":
                assert row[assignment] == "missing", where
                continue
            raw = deserved_score(assignment, lost)
            max_score = sum(test_points(assignment).values())
            delay = LATE.get(student, {}).get(assignment)
            penalty = late_penalty(policy, delay, max_score) if delay else 0.0
            assert float(row[f"{assignment}:max_score"]) == max_score, where
            assert float(row[f"{assignment}:raw_score"]) == pytest.approx(raw), where
            assert float(row[f"{assignment}:late_penalty"]) == pytest.approx(penalty), where
            assert float(row[assignment]) == pytest.approx(max(raw - penalty, 0.0)), where
            flags = row[f"{assignment}:flags"].split(";") if row[f"{assignment}:flags"] else []
            assert ("late" in flags) == bool(penalty), where
            assert ("attack" in flags) == ((student, assignment) in ATTACKS), (where, flags)


@pytest.mark.slow
def test_every_student_gets_what_their_leaderboard_file_deserves(course, policy, final):
    sample = (course / "competition" / "public" / "sample_submission.csv").read_bytes()

    def mine(student: str):
        return course / "submitted" / student / A4 / "submission.csv"

    for student, row in final.items():
        kind = CSV_FROM[student]
        if kind == "none":
            assert not mine(student).exists()
            assert row["leaderboard"] == "missing" and row["leaderboard:status"] == "missing"
            continue
        if kind == "sample":
            assert mine(student).read_bytes() == sample
        if kind == "copy":
            assert mine(student).read_bytes() == mine("s04").read_bytes()
        accuracy = private_accuracy(course, student)
        assert row["leaderboard:status"] == "scored", student
        assert float(row["leaderboard:private_accuracy"]) == pytest.approx(accuracy, abs=1e-6), student
        assert float(row["leaderboard"]) == pytest.approx(board_expected(policy, student, accuracy)), student
        flags = row["leaderboard:flags"].split(";") if row["leaderboard:flags"] else []
        assert ("copy" in flags) == (student in COPY_PAIR), (student, flags)
    # honest students really trained on the student side: the best run is well above the linear
    # model's level, the sample submission is at chance level
    assert private_accuracy(course, "s01") >= policy["leaderboard"]["thresholds"][0][0]
    assert private_accuracy(course, "s03") < 0.2


@pytest.mark.slow
def test_every_final_grade_and_status(course, policy, final):
    weights = policy["weights"]
    total = sum(weights.values())
    for student, row in final.items():
        work = expected_work(student)
        percent = 0.0
        for assignment, (status, lost) in work.items():
            if status == "missing":
                continue
            max_score = sum(test_points(assignment).values())
            delay = LATE.get(student, {}).get(assignment)
            penalty = late_penalty(policy, delay, max_score) if delay else 0.0
            percent += weights[assignment] * max(deserved_score(assignment, lost) - penalty, 0.0) / max_score
        percent += weights["leaderboard"] * board_expected(policy, student, private_accuracy(course, student)) / \
            policy["leaderboard"]["max_points"]
        assert float(row["final_percent"]) == pytest.approx(100 * percent / total, abs=0.006), student

        flagged = student in COPY_PAIR or any(s == student for s, _ in ATTACKS)
        incomplete = any(status != "graded" for status, _ in work.values()) or CSV_FROM[student] == "none"
        expected = "review" if flagged else "incomplete" if incomplete else "complete"
        assert row["final_status"] == expected, (student, row["message"])
        if student == "s07":
            assert "03_parameter_count missing (nothing submitted): counted as 0" in row["message"]
            assert "leaderboard missing" in row["message"]


@pytest.mark.slow
def test_reports_feedback_and_leaderboard_pages_are_written(course, final):
    page = (course / "reports" / "course_report.html").read_text(encoding="utf-8")
    for student in final:
        assert f"<td>{student}</td>" in page
    assert page.count("data:image/png;base64,") >= 6      # final + 4 assignments + leaderboard
    assert "<script" not in page
    for student in final:
        for assignment, (status, _) in expected_work(student).items():
            pages = list((course / "feedback" / student / assignment).glob("*.html"))
            assert bool(pages) == (status != "missing"), (student, assignment)
    for name in ("leaderboard-instructor.html", "leaderboard-public.html", "leaderboard.csv"):
        assert (course / "reports" / "leaderboard" / name).is_file()
    assert (course / "exports" / "grades.csv").is_file()


def test_the_cohort_covers_every_kind_in_seven_and_one_story_each_in_twelve():
    compact = cohort(7)
    assert [s.student_id for s in compact] == [f"s0{i}" for i in range(1, 8)]
    works = {w.value for s in compact for w in s.work.values()}
    assert {"perfect", "partial", "empty", "crash", "loop", "hog", "attack_transformer", "attack_source",
            "attack_patch", "nothing"} <= works
    assert {s.csv.value for s in compact} == {"own", "sample", "copy", "none"}
    assert any(s.days_late for s in compact)
    twelve = cohort(12)
    assert len({s.story for s in twelve}) == 12
    assert len(cohort(15)) == 15
    trainings = [s.training for s in cohort(15) if s.training]
    assert len(trainings) == len(set(trainings))          # no two honest runs alike (copy flag)
    with pytest.raises(ValueError, match="at least 7"):
        cohort(6)


def test_the_synthetic_stand_in_has_fashion_mnist_shapes_and_is_deterministic():
    a = synthetic_fashion(200, 100, seed=3)
    b = synthetic_fashion(200, 100, seed=3)
    images_train, labels_train, images_test, labels_test = a
    assert images_train.shape == (200, 28, 28) and images_test.shape == (100, 28, 28)
    assert images_train.dtype.name == "uint8"
    assert set(labels_train.tolist()) == set(range(10))
    assert all((x == y).all() for x, y in zip(a, b))
    assert not (synthetic_fashion(200, 100, seed=4)[0] == images_train).all()


# ------------------------------------------------------------------ the demo's parts, fast

def test_a_non_empty_course_folder_is_refused_and_left_alone(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("my notes")
    assert run_demo(tmp_path, students=7) == 2
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
    assert (tmp_path / "mine.txt").read_text() == "my notes"


def test_too_few_students_is_refused_before_anything_is_written(tmp_path, capsys):
    target = tmp_path / "new"
    assert run_demo(target, students=3) == 2
    assert "at least 7 students" in capsys.readouterr().err
    assert not target.exists()


def test_demo_limits_are_rewritten_and_everything_else_kept():
    text = (ROOT / "course.toml").read_text(encoding="utf-8")
    original = load_policy(ROOT)
    rewritten = parse_policy(tomllib.loads(rewrite_limits(text, DEMO_LIMITS)))
    for key, value in DEMO_LIMITS.items():
        assert getattr(rewritten.limits, key) == value
    assert rewritten.limits.cpu_time == original.limits.cpu_time
    assert rewritten.weights == original.weights and rewritten.due == original.due
    assert rewritten.leaderboard == original.leaderboard
    # a file without a [limits] table gets one
    assert parse_policy(tomllib.loads(rewrite_limits("[course]\nid = 'x'\n", DEMO_LIMITS))).limits.memory_mb == 1024


def _source(assignment):
    return json.loads((ROOT / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))


def test_answers_that_no_longer_fit_the_source_fail_loudly():
    stale = {A2: {"partial": {"base": "reference", "step2_concatenate": {"replace": [["dim=7", "dim=1"]]}}}}
    with pytest.raises(DemoError, match="dim=7.*not in the reference answer"):
        answer_sources(A2, Work.PARTIAL, _source(A2), stale)
    unknown = {A2: {"partial": {"base": "reference", "step9": {"source": "x = 1"}}}}
    with pytest.raises(DemoError, match="step9.*not an answer cell"):
        answer_sources(A2, Work.PARTIAL, _source(A2), unknown)
    perfect = answer_sources(A2, Work.PERFECT, _source(A2), {})
    assert "torch.cat([prod, diff], dim=0)" in perfect["step2_concatenate"]
    assert not any("BEGIN SOLUTION" in s for s in perfect.values())


def test_training_settings_are_edited_in_the_notebooks_own_cell():
    nb = json.loads((ROOT / "release" / A4 / f"{A4}.ipynb").read_text(encoding="utf-8"))
    set_training(nb, Training((64, 32), 2, 0.01))
    cell = next("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                for c in nb["cells"] if "EPOCHS =" in ("".join(c["source"]) if isinstance(c["source"], list)
                                                       else c["source"]))
    assert "EPOCHS = 2 " in cell and "HIDDEN_SIZES = [64, 32]" in cell and "LEARNING_RATE = 0.01 " in cell
    assert "BATCH_SIZE = 128" in cell                       # untouched settings stay
    with pytest.raises(DemoError, match="settings cell"):
        set_training({"cells": []}, Training((), 1))


def test_fashion_mnist_on_disk_is_used_and_subsampled(tmp_path, monkeypatch):
    from leaderboard_corpus.build import write_raw_dataset

    write_raw_dataset(tmp_path / "fm", 50, 40, gz=True)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "fm"))
    said = []
    data = find_dataset(Course.at(tmp_path), 30, 20, seed=1, say=said.append)
    assert data.real and "Fashion-MNIST from" in data.label and str(tmp_path / "fm") in data.label
    assert data.images_train.shape == (30, 28, 28) and data.images_test.shape == (20, 28, 28)


def test_offline_without_data_falls_back_to_the_labelled_stand_in(tmp_path, monkeypatch):
    import socket

    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with socket.socket() as closed:                        # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    said = []
    data = find_dataset(Course.at(tmp_path), 30, 20, seed=1, say=said.append, probe_timeout=1.0,
                        mirror=f"http://127.0.0.1:{port}/")
    assert not data.real and "SYNTHETIC" in data.label and "not real Fashion-MNIST" in data.label
    assert any("did not answer" in line for line in said)
    assert data.images_train.shape == (30, 28, 28)


# ------------------------------------------------------------------ the course ships with the package

def test_the_course_files_are_the_repositorys_own_in_a_checkout():
    from classroom.demo.course import COURSE_FILES, course_files

    where = course_files()
    assert where == COURSE_FILES
    for name in ("source", "course.toml", "nbgrader_config.py"):        # links, not a second copy to keep in step
        assert (where / name).is_symlink() and (where / name).resolve() == (ROOT / name).resolve()


def test_missing_course_files_are_named_and_nothing_is_written(tmp_path):
    from classroom.demo.course import make_course

    broken = tmp_path / "course-files"
    (broken / "source").mkdir(parents=True)
    (broken / "course.toml").write_text("[course]\n")
    target = tmp_path / "new"
    with pytest.raises(DemoError, match=r"course files are missing \(nbgrader_config.py\).*reinstall"):
        make_course(target, broken)
    assert not target.exists()


@pytest.mark.slow
def test_an_installed_wheel_finds_and_copies_its_course_outside_the_checkout(tmp_path):
    """`pip install .` (not editable) runs the demo: the wheel carries the course's real files."""
    import subprocess
    import sys

    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, timeout=60)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the wheel is built from the checkout's own files")
    # Build from a copy of the checkout's files (links kept as links), so the build writes nothing into it.
    src = tmp_path / "src"
    for name in filter(None, listed.stdout.decode().split("\0")):
        if name.split("/", 1)[0] in ("tests", "bench", "docs", "release") or not os.path.lexists(ROOT / name):
            continue
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_symlink():
            (src / name).symlink_to(os.readlink(ROOT / name))
        else:
            shutil.copy2(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip"]
    run = subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
                          str(src)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    wheel = next((tmp_path / "dist").glob("*.whl"))
    site = tmp_path / "site"
    run = subprocess.run([*pip, "install", "-q", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = ("import json, sys\n"
             "import classroom.demo.course as c\n"
             "from pathlib import Path\n"
             "where = c.course_files()\n"
             "course = c.make_course(Path(sys.argv[1]))\n"
             "print(json.dumps({'module': c.__file__, 'where': str(where),\n"
             "  'links': [str(p) for p in where.rglob('*') if p.is_symlink()],\n"
             "  'copied': sorted(str(p.relative_to(course.root)) for p in course.root.rglob('*') if p.is_file())}))\n")
    run = subprocess.run([sys.executable, "-c", probe, str(outside / "course")], cwd=outside, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["module"].startswith(str(site)) and seen["where"].startswith(str(site))   # not the checkout
    assert seen["links"] == []                                                            # real files
    notebooks = sorted(f"source/{a}/{a}.ipynb" for a in ASSIGNMENTS)
    assert seen["copied"] == sorted([*notebooks, "course.toml", "nbgrader_config.py"])
    for name in notebooks + ["nbgrader_config.py"]:
        assert (outside / "course" / name).read_bytes() == (ROOT / name).read_bytes(), name
    assert load_policy(outside / "course").limits.memory_mb == DEMO_LIMITS["memory_mb"]

    # the installed command itself answers (its entry point imports the installed package)
    run = subprocess.run([sys.executable, "-c", "import sys; from classroom.cli import main; sys.exit(main())",
                          "demo", "--help"], cwd=outside, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "--students" in run.stdout


# ------------------------------------------------------------------ the students' kernels

@pytest.mark.slow
def test_a_student_kernel_starts_every_notebook_afresh_in_its_own_folder(tmp_path):
    """One kernel runs several notebooks (the demo pays torch's import once), yet each sees a fresh start:
    no name, figure or folder of the notebook before, and a failing notebook does not stop the next one."""
    import nbformat

    from classroom.demo.students import StudentKernel

    def notebook(folder: str, *sources: str) -> Path:
        path = tmp_path / folder / "nb.ipynb"
        path.parent.mkdir()
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
        return path

    pid = "import os\nopen('pid.txt', 'w').write(str(os.getpid()))"
    first = notebook("a", "import matplotlib.pyplot as plt\nsecret = 41\nplt.figure()", pid)
    second = notebook("b", "import os, matplotlib.pyplot as plt\nprint(os.getcwd(), 'secret' in dir(), len(plt.get_fignums()))",
                      pid)
    failing = notebook("c", "import os\nprint(os.getpid())\nraise ValueError('a student bug')", "print('never run')")
    after = notebook("d", pid)
    with StudentKernel(timeout=120) as kernel:
        kernel.run(first)
        kernel.run(second)
        with pytest.raises(Exception, match="a student bug"):
            kernel.run(failing)
        kernel.run(after)
    pids = {name: (tmp_path / name / "pid.txt").read_text() for name in ("a", "b", "d")}
    assert pids["a"] == pids["b"] != pids["d"]           # one kernel for both; a new one after the failure
    outputs = nbformat.read(second, as_version=4).cells[0].outputs
    assert outputs[0]["text"].split() == [str(second.parent), "False", "0"]    # own folder, no name, no figure
    failed = nbformat.read(failing, as_version=4).cells
    assert failed[0].outputs[-1]["ename"] == "ValueError" and not failed[1].get("outputs")   # saved as it failed
    assert failed[0].outputs[0]["text"].strip() == pids["a"]       # the failing one also ran in the warm kernel
    for pid in set(pids.values()):                                  # no kernel outlives its StudentKernel
        assert not Path(f"/proc/{pid}").exists(), pid
