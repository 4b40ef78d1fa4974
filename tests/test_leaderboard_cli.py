"""The `leaderboard` command end to end on a temporary course: prepare -> score -> select -> show -> grades."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from leaderboard_corpus.build import ASSIGNMENT, COURSE_TOML, at, csv_bytes, write_raw_dataset

from leaderboard.cli import main

VENV_BIN = Path(sys.executable).parent


def _course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    course.mkdir()
    (course / "course.toml").write_text(COURSE_TOML.format(daily_limit=2, pseudonyms="true", plausibility_max=0.97,
                                                           rank_bonus="[]"), encoding="utf-8")
    return course


def _submit(course: Path, student: str, data: bytes, when, archived=False) -> None:
    folder = (course / "submitted" / student / ".archive" / ASSIGNMENT / when.strftime("%Y%m%dT%H%M%S")
              if archived else course / "submitted" / student / ASSIGNMENT)
    folder.mkdir(parents=True)
    (folder / "submission.csv").write_bytes(data)
    (folder / "timestamp.txt").write_text(when.isoformat())


def _predictions(truth: np.ndarray, public: np.ndarray, private_share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pred = (truth + 1) % 10
    for mask in (public, ~public):
        rows = np.flatnonzero(mask)
        right = rng.choice(rows, int(round(private_share * rows.size)), replace=False)
        pred[right] = truth[right]
    return pred


def test_instructor_story(tmp_path, capsys):
    course = _course(tmp_path)
    data = tmp_path / "fmnist"
    write_raw_dataset(data, n_train=30, n_test=500)
    assert main(["--course", str(course), "prepare", "--data", str(data)]) == 0
    solution = pd.read_csv(course / "competition" / "private" / "solution.csv")
    truth, public = solution["Category"].to_numpy(), (solution["Usage"] == "Public").to_numpy()
    assert public.sum() == 150

    _submit(course, "ann", csv_bytes(_predictions(truth, public, 0.91, 1)), at(1, 9))
    _submit(course, "ben", csv_bytes(_predictions(truth, public, 0.80, 2)), at(1, 9), archived=True)
    _submit(course, "ben", csv_bytes(_predictions(truth, public, 0.87, 3)), at(1, 10))
    _submit(course, "cat", b"Id,Category\n0,1\n0,2\n", at(1, 11))
    for k in range(3):                                          # dan: three files in one day, limit 2
        _submit(course, "dan", csv_bytes(_predictions(truth, public, 0.83 + k / 100, 10 + k)), at(2, 9 + k),
                archived=k < 2)
    capsys.readouterr()

    assert main(["score", "--course", str(course)]) == 0
    out = capsys.readouterr().out
    assert "submitted tree: 7 files, 7 new (5 scored, 1 invalid, 1 over_limit), 0 already recorded." in out
    assert "cat: invalid: line 3: the Id 0 appears again (first on line 2)" in out
    reports = course / "reports" / "leaderboard"
    with (reports / "leaderboard.csv").open() as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert {s: (r["status"], r["grade"], r["rank"]) for s, r in rows.items()} == {
        "ann": ("scored", "10", "1"), "ben": ("scored", "7", "2"), "dan": ("scored", "4", "3"),
        "cat": ("invalid", "0", "")}

    # Re-running picks up nothing new.
    assert main(["score", "--course", str(course)]) == 0
    assert "0 new" in capsys.readouterr().out

    # ben's archived (older, weaker) file is his only other one; select it: it now counts.
    assert main(["select", "ben", "--course", str(course)]) == 0
    listing = capsys.readouterr().out
    assert "Submissions of ben" in listing
    import sqlite3
    with sqlite3.connect(course / "leaderboard.db") as db:
        (older,) = db.execute("select id from submissions where student_id='ben' order by submitted_at limit 1").fetchone()
    assert main(["select", "ben", str(older), "--course", str(course)]) == 0
    assert f"ben: selected {older}" in capsys.readouterr().out

    assert main(["baseline", "linear model", "--public", "0.84", "--private", "0.84", "--course", str(course)]) == 0
    capsys.readouterr()
    assert main(["show", "--course", str(course)]) == 0
    shown = capsys.readouterr().out
    assert "Leaderboard (public accuracy)" in shown and "linear model (baseline)" in shown
    for student in ("ann", "ben", "dan"):
        assert f" {student} " not in shown                      # pseudonyms on the public view
    assert main(["show", "--instructor", "--course", str(course)]) == 0
    assert "ann" in capsys.readouterr().out

    grades = tmp_path / "grades.csv"
    assert main(["grades", "--out", str(grades), "--course", str(course)]) == 0
    table = pd.read_csv(grades, keep_default_na=False).set_index("student_id")
    assert table.loc["ben", "points"] == 2                       # the selected 0.80 file now counts
    assert table.loc["cat", "status"] == "invalid" and table.loc["cat", "points"] == 0

    # Errors are one clear line on stderr, exit 2.
    assert main(["select", "nobody", "1", "--course", str(course)]) == 2
    assert "no submissions recorded for student 'nobody'" in capsys.readouterr().err
    assert main(["score", "--course", str(tmp_path / "empty")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_flat_folder_with_explicit_solution(tmp_path, capsys):
    course = _course(tmp_path)
    data = tmp_path / "fmnist"
    write_raw_dataset(data, n_train=10, n_test=40)
    assert main(["prepare", "--course", str(course), "--data", str(data)]) == 0
    solution = course / "competition" / "private" / "solution.csv"
    truth = pd.read_csv(solution)["Category"].to_numpy()
    flat = tmp_path / "lms"
    flat.mkdir()
    (flat / "s1_sub.csv").write_bytes(csv_bytes(truth))
    (flat / "README.txt").write_text("not a submission")
    out = tmp_path / "out"
    capsys.readouterr()
    db = tmp_path / "elsewhere.db"                             # any SQLAlchemy URL, here another SQLite file
    assert main(["score", str(flat), "--solution", str(solution), "--out", str(out), "--course", str(course),
                 "--db", f"sqlite:///{db}"]) == 0
    printed = capsys.readouterr().out
    assert "flat folder: 1 files, 1 new (1 scored" in printed
    assert "modification times" in printed and "README.txt: not a .csv file" in printed
    assert "review s1: implausible" in printed                 # 100 % is above the 0.97 bound
    assert (out / "leaderboard-public.html").is_file()
    assert db.is_file() and not (course / "leaderboard.db").exists()
    assert main(["show", "--course", str(course), "--db", f"sqlite:///{db}"]) == 0
    assert "1.0000" in capsys.readouterr().out             # s1 scored 100 %, read from that database


@pytest.mark.slow  # a subprocess of the CLI
def test_console_script_is_installed(tmp_path):
    """The `leaderboard` entry point from pyproject.toml runs as its own process."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "sample_submission.csv").write_text("Id,Category\n0,0\n1,0\n")
    (tmp_path / "submission.csv").write_text("Id;Category\n0;1\n1;2\n")
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["leaderboard", "validate", "submission.csv", "--course", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "line 1: the header is 'Id;Category'. It uses semicolons" in done.stdout
