"""Load test of the course portal on loopback: N concurrent students, each uploading a notebook and a CSV.

    python bench/bench_portal.py [--students 50] [--port 0]

Builds a small real course (the engine fixture assignment doubling as the competition, 100 test
rows), issues tokens, starts `autograder serve` in its own process on 127.0.0.1, and runs N
student threads at once: sign in, upload notebook + submission.csv in one request (the CSV is
scored during the request), then poll their page until the notebook's feedback link appears.
Bounded: every request has a timeout and the whole run a deadline; it only talks to 127.0.0.1.

Prints p50/p95/max of the upload request (CSV validated and scored on the public split inside
it) and of the time from upload to notebook feedback, then checks: every student has exactly one
graded record, one scored CSV row and one done job (nothing lost, nothing doubled).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
BIN = os.path.dirname(sys.executable)
os.environ["PATH"] = BIN + os.pathsep + os.environ.get("PATH", "")
DEADLINE = 1800.0


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=50)
    args = parser.parse_args()

    import httpx
    import portal_course

    from autograder.gradebook import open_gradebook
    from coursebase.layout import Course
    from portal.app import portal_url
    from portal.auth import issue_tokens
    from portal.store import open_store

    tmp = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    course = portal_course.make_portal_course(tmp / "course", daily_limit=5)
    students = [f"u{i:03d}" for i in range(args.students)]
    with open_gradebook(Course.at(course.root).db_url) as gb:
        for sid in students:
            gb.update_or_create_student(sid)
    tokens = issue_tokens(open_store(portal_url(Course.at(course.root))), students)
    notebook = course.notebook()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "classroom.cli", "serve", "--course", str(course.root),
                               "--port", str(port)], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    upload_s: list[float] = []
    feedback_s: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Event()
    t_begin = time.monotonic()

    def student(i: int, sid: str) -> None:
        try:
            with httpx.Client(base_url=base, timeout=300, follow_redirects=True) as c:
                csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/").text).group(1)
                c.post("/login", data={"token": tokens[sid], "csrf": csrf})
                csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/me").text).group(1)
                start_gate.wait()
                t0 = time.monotonic()
                r = c.post(f"/upload/{portal_course.ASSIGNMENT}", data={"csrf": csrf},
                           files={"notebook": ("ps2.ipynb", notebook), "csv": ("submission.csv", course.csv(50, seed=i))})
                t1 = time.monotonic()
                if r.status_code != 200 or "submission.csv: scored" not in r.text:
                    raise RuntimeError(f"upload answered {r.status_code}: {r.text[:200]}")
                while time.monotonic() - t_begin < DEADLINE:
                    if "feedback-link" in c.get("/me").text:
                        break
                    time.sleep(0.5)
                else:
                    raise RuntimeError("no feedback before the deadline")
                t2 = time.monotonic()
            with lock:
                upload_s.append(t1 - t0)
                feedback_s.append(t2 - t0)
        except Exception as exc:  # a failure is counted and reported, never hidden
            with lock:
                errors.append(f"{sid}: {exc}")

    try:
        for _ in range(240):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        threads = [threading.Thread(target=student, args=(i, sid)) for i, sid in enumerate(students)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        start_gate.set()
        for t in threads:
            t.join(timeout=DEADLINE)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=180)

    records = [json.loads(line) for line in (course.root / ".autograder" / "records.jsonl").read_text().splitlines()]
    per_student = {sid: sum(1 for r in records if r["student_id"] == sid) for sid in students}
    from leaderboard import api
    csv_rows = {sid: len(api.student_submissions(course.root, sid)) for sid in students}
    from portal.store import JobState, jobs_of
    jobs = jobs_of(open_store(portal_url(Course.at(course.root))))
    print(f"students: {len(students)}, errors: {len(errors)}")
    for e in errors[:10]:
        print("  ", e)
    if upload_s:
        print(f"upload + CSV scoring (s): p50 {_pct(upload_s, .5):.2f}  p95 {_pct(upload_s, .95):.2f}  "
              f"max {max(upload_s):.2f}  mean {statistics.mean(upload_s):.2f}")
        print(f"upload -> notebook feedback (s): p50 {_pct(feedback_s, .5):.2f}  p95 {_pct(feedback_s, .95):.2f}  "
              f"max {max(feedback_s):.2f}")
    lost = [s for s, n in per_student.items() if n != 1]
    doubled_csv = [s for s, n in csv_rows.items() if n != 1]
    not_done = [j.id for j in jobs if j.state != JobState.DONE]
    print(f"records per student == 1: {not lost}; CSV rows per student == 1: {not doubled_csv}; "
          f"jobs done: {len(jobs) - len(not_done)}/{len(jobs)}")
    return 0 if not (errors or lost or doubled_csv or not_done) else 1


if __name__ == "__main__":
    sys.exit(main())
