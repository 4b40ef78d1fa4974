"""Grading on a real Dask cluster (scheduler and two workers on loopback), one worker killed mid-batch."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from conftest import FIXTURES, build_course, released, submit, with_answers
from test_grade_batch import GOOD

from autograder.grade import grade_batch
from coursebase.layout import Course

pytestmark = pytest.mark.slow

SLOW = {**GOOD, "value_answer": "import time\ntime.sleep(1.0)\nvalue = 50"}


def test_batch_on_a_local_cluster_survives_a_killed_worker(tmp_path):
    from dask.distributed import Client, LocalCluster

    course = build_course(tmp_path / "course", {"ps2": FIXTURES / "engine" / "ps2.ipynb"})
    students = [f"d{i:02d}" for i in range(8)]
    for i, student in enumerate(students):
        answers = SLOW if i % 2 == 0 else {**SLOW, "value_answer": "import time\ntime.sleep(1.0)\nvalue = 49"}
        submit(course, student, "ps2", with_answers(released(course, "ps2"), answers))
    records = course / ".autograder" / "records.jsonl"

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        worker_pids = list(client.run(os.getpid).values())
        assert len(worker_pids) == 2

        def kill_one_worker():
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                if records.exists() and len(records.read_text().splitlines()) >= 2:
                    os.kill(worker_pids[0], signal.SIGKILL)
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_one_worker)
        killer.start()
        summary = grade_batch(Course.at(course), "ps2", scheduler=cluster.scheduler_address, quiet=True)
        killer.join()
        assert not _alive(worker_pids[0]), "the worker was killed mid-batch"

    scores = {r.student_id: r.score for r in summary.graded}
    assert scores == {s: (8.0 if i % 2 == 0 else 6.0) for i, s in enumerate(students)}
    assert len(records.read_text().splitlines()) == len(students)  # none recorded twice
    assert all(r.sandbox == "namespaces" for r in summary.graded)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except OSError:
        return False
