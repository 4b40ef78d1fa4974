"""The whole hostile corpus graded in ONE `leaderboard score` run together with honest files: every honest
file is scored (100 %), every bad one gets a clean `invalid` with a short message, nothing crashes,
nothing outside the submissions is read, and every output still reads back."""
from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from leaderboard_corpus.build import ASSIGNMENT, at, make_course
from leaderboard_corpus.hostile import hostile_files, special_entries, valid

from leaderboard.validate import MAX_BYTES

CORPUS = Path(__file__).parent / "leaderboard_corpus" / "cases"
VENV_BIN = Path(sys.executable).parent
MESSAGE_BOUND = 4000


def _put(submitted: Path, student: str, data: bytes, hour: int) -> None:
    folder = submitted / student / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "submission.csv").write_bytes(data)
    (folder / "timestamp.txt").write_text(at(1, hour % 24).isoformat())


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_one_run_grades_the_whole_hostile_corpus_and_every_honest_file(tmp_path):
    course = make_course(tmp_path / "c", n_test=10)
    solution = course.root / "competition" / "private" / "solution.csv"
    frame = pd.read_csv(solution)
    frame["Category"] = (frame["Id"] * 3) % 10            # the corpus's truth: Id i -> (3 i) % 10
    frame.to_csv(solution, index=False)
    submitted = course.root / "submitted"

    honest = {f"honest_{p.stem}": p.read_bytes() for p in sorted(CORPUS.glob("valid_*.csv"))}
    honest["honest_generated"] = valid()
    bad = {f"case_{p.stem}": p.read_bytes() for p in sorted(CORPUS.iterdir()) if not p.name.startswith("valid_")}
    generated = {f"gen_{name}": data for name, data in hostile_files().items()}
    for k, (student, data) in enumerate({**honest, **bad, **generated}.items()):
        _put(submitted, student, data, k)
    huge = submitted / "gen_over_size_cap" / ASSIGNMENT
    huge.mkdir(parents=True)
    with (huge / "submission.csv").open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    (huge / "timestamp.txt").write_text(at(2).isoformat())
    specials = special_entries(submitted / "_special", "submission.csv")
    for case in specials:                                  # one student per special entry
        target = submitted / f"special_{case}" / ASSIGNMENT
        target.parent.mkdir(parents=True)
        shutil.move(str(submitted / "_special" / case), str(target))
        (target / "timestamp.txt").write_text(at(3).isoformat())
    shutil.rmtree(submitted / "_special", ignore_errors=True)
    # Hostile timestamp.txt files next to honest CSVs: never followed, never echoed.
    for case, make in (("stamp_link", lambda p: p.symlink_to("/etc/passwd")), ("stamp_fifo", os.mkfifo),
                       ("stamp_huge", lambda p: p.write_text("2026-12-01T12:00:00+00:00" + " x" * 100_000))):
        folder = submitted / f"honest_{case}" / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "submission.csv").write_bytes(valid())
        make(folder / "timestamp.txt")
        honest[f"honest_{case}"] = valid()
    hostile_count = len(generated) + 1 + len(specials)
    assert hostile_count >= 60 and len(bad) >= 25

    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(VENV_BIN / "leaderboard"), "score", "--course", str(course.root)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert len(done.stdout) < 400 * (hostile_count + len(bad) + 50)   # per-file lines stay short

    with sqlite3.connect(course.root / "leaderboard.db") as conn:
        rows = {s: (st, m, pc, pt, qc, qt) for s, st, m, pc, pt, qc, qt in conn.execute(
            "select student_id, status, message, public_correct, public_total, private_correct, private_total "
            "from submissions")}
    expected_students = set(honest) | set(bad) | set(generated) | {"gen_over_size_cap"} | \
        {f"special_{c}" for c in specials}
    assert set(rows) == expected_students
    for student in honest:
        status, message, pc, pt, qc, qt = rows[student]
        assert status == "scored" and pc == pt and qc == qt, (student, message)
    for student in expected_students - set(honest):
        status, message, *_ = rows[student]
        assert status == "invalid", (student, status)
        assert 0 < len(message) <= MESSAGE_BOUND, (student, len(message))
        assert "What to do:" in message
    for case, found in specials.items():
        assert found in rows[f"special_{case}"][1]
    assert "the limit is 10 MB" in rows["gen_over_size_cap"][1]
    assert "line 2:" in rows["gen_id_5000_digits"][1]

    # Nothing of a linked system file reached the database or a report.
    passwd_first = Path("/etc/passwd").read_text(errors="replace").splitlines()[0]
    out = course.root / "reports" / "leaderboard"
    everything = (course.root / "leaderboard.db").read_bytes() + b"".join(p.read_bytes() for p in out.iterdir())
    assert passwd_first.encode() not in everything
    # The reports read back with the standard reader, one row per student.
    with (out / "leaderboard.csv").open(newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert {r["student_id"] for r in table} == expected_students
    assert {r["status"] for r in table} == {"scored", "invalid"}

    # A second run changes nothing (every file, hostile or not, is recognised).
    again = subprocess.run([str(VENV_BIN / "leaderboard"), "score", "--course", str(course.root)],
                           capture_output=True, text=True, env=env, timeout=600, check=False)
    assert again.returncode == 0 and " 0 new " in again.stdout, again.stdout[:500]
