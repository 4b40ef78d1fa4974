"""The portal as people use it: `autograder serve` in its own process, a real headless Chromium.

Also the restart story: the grading worker is killed mid-queue and started again; every job is
graded exactly once.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from portal_course import ASSIGNMENT, STUDENTS, make_portal_course

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _records(root: Path) -> list[dict]:
    path = root / ".autograder" / "records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _jobs(root: Path):
    from coursebase.layout import Course
    from portal.app import portal_url
    from portal.store import jobs_of, open_store
    return jobs_of(open_store(portal_url(Course.at(root))))


def test_killed_worker_restarts_and_grades_every_job_exactly_once(tmp_path):
    from coursebase.layout import Course
    from portal.app import portal_url
    from portal.service import store_upload
    from portal.store import JobState, enqueue, open_store

    course = make_portal_course(tmp_path / "course")
    db = open_store(portal_url(Course.at(course.root)))
    for sid in STUDENTS:
        assert store_upload(Course.at(course.root), sid, ASSIGNMENT, notebook=course.notebook())
        enqueue(db, sid, ASSIGNMENT)
    cmd = [sys.executable, "-m", "portal.worker", "--course", str(course.root)]
    worker = subprocess.Popen(cmd, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(j.state == JobState.DONE for j in _jobs(course.root)):
            time.sleep(0.2)
        assert any(j.state == JobState.DONE for j in _jobs(course.root)), "the worker graded nothing in 300 s"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)          # the worker and its warm fork server, no cleanup
        worker.wait(timeout=60)
    assert not all(j.state == JobState.DONE for j in _jobs(course.root)) or len(_records(course.root)) == 3
    again = subprocess.run(cmd + ["--once"], timeout=600, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert [j.state for j in _jobs(course.root)] == [JobState.DONE] * 3
    graded = [r["student_id"] for r in _records(course.root)]
    assert sorted(graded) == sorted(STUDENTS), graded          # each exactly once
    assert all(r["score"] == 8.0 for r in _records(course.root))


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_student_uploads_and_sees_score_and_feedback_instructor_reveals(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    course = make_portal_course(tmp_path / "course", due=past)
    nb_file = tmp_path / "ps2.ipynb"
    nb_file.write_bytes(course.notebook())
    csv_file = tmp_path / "submission.csv"
    csv_file.write_bytes(course.csv(60, seed=4))
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "classroom.cli", "serve", "--course", str(course.root),
                               "--port", str(port)], start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            student = browser.new_page(viewport={"width": 1200, "height": 900})
            student.goto(base + "/")
            student.fill("#token", "not-a-real-token-but-long-enough")
            student.click("#signin")
            assert "not valid" in student.inner_text("#error")
            student.fill("#token", course.tokens["s1"])
            student.click("#signin")
            row = student.locator(f'tr[data-assignment="{ASSIGNMENT}"]')
            row.locator('input[name="notebook"]').set_input_files(str(nb_file))
            row.locator('input[name="csv"]').set_input_files(str(csv_file))
            row.locator("button").click()
            assert "submission.csv: scored" in student.inner_text("#message")
            student.wait_for_selector(f'tr[data-assignment="{ASSIGNMENT}"] a.feedback-link', timeout=240_000)
            score = student.inner_text(f'tr[data-assignment="{ASSIGNMENT}"] td.score')
            assert score.split()[:3] == ["7.2", "/", "8"], score     # an hour late: 10 % of 8 taken off
            assert "late" in student.inner_text(f'tr[data-assignment="{ASSIGNMENT}"] td.status')
            student.screenshot(path=str(tmp_path / "portal-student.png"), full_page=True)
            student.click("a.feedback-link")
            assert "s1" in student.content()
            student.screenshot(path=str(tmp_path / "portal-feedback.png"), full_page=True)

            admin = browser.new_page(viewport={"width": 1200, "height": 900})
            admin.goto(base + "/")
            admin.fill("#token", course.tokens["__instructor__"])
            admin.click("#signin")
            assert "s1" in admin.inner_text("#submissions")
            admin.click("#reveal")
            assert "revealed" in admin.inner_text("#message")
            admin.screenshot(path=str(tmp_path / "portal-instructor.png"), full_page=True)
            board = browser.new_page(viewport={"width": 1000, "height": 600})
            board.goto(base + "/leaderboard")
            assert board.locator("#private").count() == 1
            board.screenshot(path=str(tmp_path / "portal-leaderboard.png"), full_page=True)
            browser.close()
        if os.environ.get("PORTAL_SCREENSHOTS"):         # refresh the pictures in docs/ on purpose only
            for name in ("portal-student", "portal-feedback", "portal-instructor", "portal-leaderboard"):
                shutil.copy(tmp_path / f"{name}.png", DOCS / f"{name}.png")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
