"""Several real `leaderboard score` processes at once give exactly the rows one run gives:
the daily limit holds, no file is recorded twice, the answer key is one row, nobody sees a traceback."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from leaderboard_corpus.build import at, make_course

VENV_BIN = Path(sys.executable).parent
PROCESSES = 4
LIMIT = 5


def _course(root: Path):
    course = make_course(root, n_test=60, daily_limit=LIMIT)
    for k in range(4):                                   # four students, 8 valid files each on one day
        student = f"s{k}"
        for j in range(8):
            archived = j < 7
            course.submit(student, course.predictions_with_accuracy(10 + j + k, 5 + j, seed=100 * k + j),
                          at(1, 8 + j), archived=archived)
    course.submit("s9", b"Id,Category\n" + b"1" * 5000 + b",3\n", at(1, 9))    # hostile, invalid
    return course


def _rows(db: Path, url: str | None = None):
    with sqlite3.connect(db) as conn:
        subs = sorted(conn.execute("select student_id, sha256, status, public_correct, private_correct, "
                                   "submitted_at from submissions"))
        keys = conn.execute("select count(*) from answer_key").fetchone()[0]
    return subs, keys


def _score(course: Path, out: Path, extra=()) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.Popen([str(VENV_BIN / "leaderboard"), "score", "--course", str(course), "--out", str(out),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_concurrent_scorers_on_sqlite_equal_one_run(tmp_path):
    course = _course(tmp_path / "together")
    reference = tmp_path / "alone"
    shutil.copytree(course.root, reference)

    alone = _score(reference, tmp_path / "out-alone")
    out, err = alone.communicate(timeout=600)
    assert alone.returncode == 0, err
    expected, keys = _rows(reference / "leaderboard.db")
    assert keys == 1
    statuses = [r[2] for r in expected]
    assert statuses.count("scored") == 4 * LIMIT and statuses.count("over_limit") == 4 * 3
    assert statuses.count("invalid") == 1

    runs = [_score(course.root, tmp_path / f"out{k}") for k in range(PROCESSES)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in runs]
    for code, out, err in results:
        assert code == 0, err
        assert "Traceback" not in err and "IntegrityError" not in err + out
    together, keys = _rows(course.root / "leaderboard.db")
    assert keys == 1
    assert together == expected
    # Each file was recorded by exactly one of the runs.
    new = sum(int(out.split(" new ")[0].split()[-1]) for _, out, _ in results)
    assert new == len(expected)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_concurrent_scorers_on_postgresql(tmp_path):
    url = os.environ.get("LEADERBOARD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set LEADERBOARD_TEST_POSTGRES_URL to an empty PostgreSQL database to run this test")
    pytest.importorskip("psycopg")
    from sqlalchemy import create_engine, text
    course = _course(tmp_path / "pg")
    runs = [_score(course.root, tmp_path / f"out{k}", ["--db", url]) for k in range(PROCESSES)]
    for p in runs:
        assert p.wait(timeout=600) == 0, p.communicate()[1]
    engine = create_engine(url)
    with engine.connect() as conn:
        statuses = [r[0] for r in conn.execute(text("select status from submissions"))]
        assert conn.execute(text("select count(*) from answer_key")).scalar() == 1
    assert statuses.count("scored") == 4 * LIMIT and statuses.count("over_limit") == 12
