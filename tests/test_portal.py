"""The course portal's routes, on a real course: real gradebook, real SQLite, real grading worker.

Every refusal is checked for its message and for what it did NOT do (nothing stored, nothing queued).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from portal_course import ASSIGNMENT, FULL_SCORE, make_portal_course

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_portal_course(tmp_path_factory.mktemp("portal") / "course")


@pytest.fixture
def course(template, tmp_path):
    import shutil

    from conftest import copy_course
    root = copy_course(template.root, tmp_path / "course")
    shutil.rmtree(root / ".autograder", ignore_errors=True)
    shutil.copytree(template.root / ".autograder", root / ".autograder")
    return type(template)(root, template.tokens, template.truth, template.public)


def loc(resp) -> str:
    from urllib.parse import unquote_plus
    return unquote_plus(resp.headers["location"])


def client_for(course):
    from portal.app import create_app
    return TestClient(create_app(course.root), follow_redirects=False)


def signed_in(course, owner):
    client = client_for(course)
    page = client.get("/")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    resp = client.post("/login", data={"token": course.tokens[owner], "csrf": csrf})
    assert resp.status_code == 303, resp.text
    return client


def csrf_of(client, path="/me"):
    return re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(path).text).group(1)


def upload(client, csrf, notebook: bytes | None = None, csv: bytes | None = None,
           nb_name="ps2.ipynb", csv_name="submission.csv"):
    files = {}
    if notebook is not None:
        files["notebook"] = (nb_name, notebook, "application/json")
    if csv is not None:
        files["csv"] = (csv_name, csv, "text/csv")
    return client.post(f"/upload/{ASSIGNMENT}", data={"csrf": csrf}, files=files)


def submitted_files(course):
    root = course.root / "submitted"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def run_worker(course):
    from coursebase.layout import Course
    from portal.app import portal_url
    from portal.worker import serve_forever
    assert serve_forever(course.root, portal_url(Course.at(course.root)), once=True) == 0


# -- sign-in ------------------------------------------------------------------------------------
def test_no_token_bad_token_and_forged_cookie_see_nothing(course):
    client = client_for(course)
    assert loc(client.get("/me")) == "/"
    assert loc(client.get("/admin")) == "/"
    assert loc(client.get(f"/feedback/{ASSIGNMENT}")) == "/"
    page = client.get("/")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    bad = client.post("/login", data={"token": "x" * 43, "csrf": csrf})
    assert bad.status_code == 303 and "error=" in loc(bad)
    assert "portal_session" not in bad.cookies
    # a cookie signed with another key reads as "not signed in"
    from itsdangerous import URLSafeTimedSerializer
    forged = URLSafeTimedSerializer(b"0" * 64, salt="portal-session").dumps({"who": "s1", "sid": "a" * 32})
    client.cookies.set("portal_session", forged)
    assert loc(client.get("/me")) == "/"
    # a login form without the pre-session CSRF token is refused
    fresh = client_for(course)
    refused = fresh.post("/login", data={"token": course.tokens["s1"]})
    assert refused.status_code == 403 and "CSRF" in refused.text


def test_a_revoked_token_signs_the_student_out(course):
    from coursebase.layout import Course
    from portal.app import portal_url
    from portal.auth import owner_of, revoke
    from portal.store import open_store

    client = signed_in(course, "s1")
    assert client.get("/me").status_code == 200
    db = open_store(portal_url(Course.at(course.root)))
    assert revoke(db, "s1") == 1
    assert owner_of(db, course.tokens["s1"]) is None
    assert loc(client.get("/me")) == "/"


def test_only_hashes_of_tokens_are_stored(course):
    import sqlite3
    data = (course.root / ".autograder" / "portal.db").read_bytes()
    for token in course.tokens.values():
        assert token.encode() not in data
    with sqlite3.connect(course.root / ".autograder" / "portal.db") as con:
        assert con.execute("select version_num from alembic_version").fetchone() == ("0002",)


# -- uploads ------------------------------------------------------------------------------------
def test_upload_is_stored_as_collect_stores_it_then_graded_once_with_feedback(course):
    client = signed_in(course, "s1")
    resp = upload(client, csrf_of(client), notebook=course.notebook())
    assert resp.status_code == 303 and "queued" in loc(resp)
    folder = course.root / "submitted" / "s1" / ASSIGNMENT
    assert (folder / "ps2.ipynb").read_bytes() == course.notebook()
    stamp = dt.datetime.fromisoformat((folder / "timestamp.txt").read_text().strip())
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 600   # the server's time
    page = client.get("/me").text
    assert "queued, position 1" in page
    run_worker(course)
    page = client.get("/me").text
    assert f"{FULL_SCORE:g} / {FULL_SCORE:g}" in page and "graded" in page
    feedback = client.get(f"/feedback/{ASSIGNMENT}")
    assert feedback.status_code == 200 and "s1" in feedback.text
    records = (course.root / ".autograder" / "records.jsonl").read_text().splitlines()
    assert [json.loads(r)["student_id"] for r in records] == ["s1"]
    # the same file again: nothing new, nothing queued, nothing graded twice
    again = upload(client, csrf_of(client), notebook=course.notebook())
    assert "identical" in loc(again)
    run_worker(course)
    assert len((course.root / ".autograder" / "records.jsonl").read_text().splitlines()) == 1
    # a changed notebook archives the first one, never overwrites it
    upload(client, csrf_of(client), notebook=course.notebook({"value_answer": "value = 49"}))
    archived = list((course.root / "submitted" / "s1" / ".archive" / ASSIGNMENT).glob("*/ps2.ipynb"))
    assert [p.read_bytes() for p in archived] == [course.notebook()]


def test_a_student_sees_only_their_own_work(course):
    s1 = signed_in(course, "s1")
    upload(s1, csrf_of(s1), notebook=course.notebook())
    run_worker(course)
    s2 = signed_in(course, "s2")
    assert s2.get(f"/feedback/{ASSIGNMENT}").status_code == 404
    assert "s1" not in s2.get("/me").text
    assert s2.get("/admin").status_code == 403
    assert s2.get(f"/admin/feedback/s1/{ASSIGNMENT}").status_code == 403
    # the student id in a form is ignored: uploads always go to the signed-in student
    resp = s2.post(f"/upload/{ASSIGNMENT}", data={"csrf": csrf_of(s2), "student": "s1"},
                   files={"notebook": ("ps2.ipynb", course.notebook({"value_answer": "value = 1"}))})
    assert resp.status_code == 303
    assert (course.root / "submitted" / "s1" / ASSIGNMENT / "ps2.ipynb").read_bytes() == course.notebook()


def test_bad_uploads_are_refused_with_the_reason_and_nothing_is_stored(course):
    client = signed_in(course, "s2")
    csrf = csrf_of(client)
    no_csrf = client.post(f"/upload/{ASSIGNMENT}", files={"notebook": ("ps2.ipynb", course.notebook())})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    wrong_type = upload(client, csrf, notebook=b"hello", nb_name="notes.txt")
    assert wrong_type.status_code == 400 and "is not a .ipynb notebook" in wrong_type.text
    broken = upload(client, csrf, notebook=b'{"cells": [\n  {"cell_type": "code",\n  oops}')
    assert broken.status_code == 400 and "not valid JSON" in broken.text and "line 3" in broken.text
    not_nb = upload(client, csrf, notebook=b'{"hello": 1}')
    assert not_nb.status_code == 400 and "not a Jupyter notebook" in not_nb.text
    csv_first = upload(client, csrf, csv=course.csv())
    assert csv_first.status_code == 400 and "upload your notebook together" in csv_first.text
    from portal.app import MAX_REQUEST_BYTES
    huge = client.post(f"/upload/{ASSIGNMENT}", data={"csrf": csrf},
                       files={"notebook": ("ps2.ipynb", b"x" * (MAX_REQUEST_BYTES + 1))})
    assert huge.status_code == 413
    assert submitted_files(course) == []
    from coursebase.layout import Course
    from portal.app import portal_url
    from portal.store import jobs_of, open_store
    assert jobs_of(open_store(portal_url(Course.at(course.root)))) == []


def test_csv_is_scored_at_once_and_the_daily_limit_holds(course):
    client = signed_in(course, "s3")
    first = upload(client, csrf_of(client), notebook=course.notebook(), csv=course.csv(50, seed=1))
    assert "submission.csv: scored, public accuracy" in loc(first)
    page = client.get("/me").text
    assert re.search(r'id="daily-left">1<', page)
    upload(client, csrf_of(client), csv=course.csv(55, seed=2))
    third = upload(client, csrf_of(client), csv=course.csv(60, seed=3))
    assert "over_limit" in loc(third)
    assert re.search(r'id="daily-left">0<', client.get("/me").text)
    # the notebook was carried over into every new submission
    assert (course.root / "submitted" / "s3" / ASSIGNMENT / "ps2.ipynb").read_bytes() == course.notebook()
    # what the portal stored, the CLI sees
    from leaderboard import api
    rows = api.student_submissions(course.root, "s3")
    assert sorted(str(r.status) for r in rows) == ["over_limit", "scored", "scored"]


def test_private_board_stays_hidden_until_reveal_after_the_deadline(course):
    s1 = signed_in(course, "s1")
    upload(s1, csrf_of(s1), notebook=course.notebook(), csv=course.csv(60))
    board = client_for(course).get("/leaderboard").text
    assert 'id="private-hidden"' in board and 'id="private"' not in board
    assert "s1" not in board                       # pseudonyms only
    admin = signed_in(course, "__instructor__")
    refused = admin.post("/admin/reveal", data={"csrf": csrf_of(admin, "/admin")})
    assert "after the deadline" in loc(refused)
    assert 'id="private-hidden"' in client_for(course).get("/leaderboard").text
    # after the deadline the instructor may reveal it; choosing final files is then closed
    toml = course.root / "course.toml"
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).isoformat()
    toml.write_text(re.sub(r'due = "[^"]+"', f'due = "{past}"', toml.read_text()))
    assert "revealed" in loc(admin.post("/admin/reveal", data={"csrf": csrf_of(admin, "/admin")}))
    assert 'id="private"' in client_for(course).get("/leaderboard").text
    late_pick = s1.post("/select", data={"csrf": csrf_of(s1), "id": "1"})
    assert "deadline has passed" in loc(late_pick)


def test_instructor_sees_everything_regrades_and_overrides(course):
    s1 = signed_in(course, "s1")
    upload(s1, csrf_of(s1), notebook=course.notebook({"value_answer": "value = 49"}))
    run_worker(course)
    admin = signed_in(course, "__instructor__")
    page = admin.get("/admin").text
    assert "s1" in page and 'id="stats"' in page and "test_value" in page
    csrf = csrf_of(admin, "/admin")
    missing_reason = admin.post("/admin/override", data={"csrf": csrf, "student": "s1", "assignment": ASSIGNMENT,
                                                         "cell": "test_value", "points": "1", "reason": ""})
    assert "err=" in loc(missing_reason)
    ok = admin.post("/admin/override", data={"csrf": csrf, "student": "s1", "assignment": ASSIGNMENT,
                                             "cell": "test_value", "points": "1", "reason": "49 is fine here"})
    assert "override saved" in loc(ok)
    assert "override" in admin.get("/admin").text
    regrade = admin.post("/admin/regrade", data={"csrf": csrf, "student": "s1", "assignment": ASSIGNMENT})
    assert "queued" in loc(regrade)
    run_worker(course)
    assert len((course.root / ".autograder" / "records.jsonl").read_text().splitlines()) == 2
    final = re.search(r'<table id="final-grades">(.*?)</table>', admin.get("/admin").text, re.S).group(1)
    assert "<td>s1</td>" in final and "%" in final          # the final-grades table, on the page
    grades = admin.get("/admin/download/grades")
    assert grades.status_code == 200 and grades.text.startswith("student_id")
    assert admin.post("/admin/reveal", data={}).status_code == 403


def test_the_web_process_never_imports_torch(course):
    code = ("import sys; from portal.app import create_app; create_app(sys.argv[1]); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(course.root)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_portal_database_url_comes_from_course_toml(tmp_path):
    from coursebase.layout import Course
    from portal.app import portal_url
    (tmp_path / "course.toml").write_text('[portal]\nurl = "sqlite:///state/portal.db"\n')
    assert portal_url(Course.at(tmp_path)) == f"sqlite:///{(tmp_path / 'state' / 'portal.db').resolve()}"
    (tmp_path / "course.toml").write_text('[portal]\nurl = "postgresql://grader@db/course"\n')
    assert portal_url(Course.at(tmp_path)) == "postgresql://grader@db/course"
    (tmp_path / "course.toml").write_text("")
    assert portal_url(Course.at(tmp_path)).endswith("/.autograder/portal.db")


# -- attacks (issue 16: the portal attacked as a hostile student) -------------------------------
def test_deeply_nested_json_is_refused_in_plain_words_not_a_server_error(course):
    client = signed_in(course, "s2")
    bomb = b"[" * 200_000 + b"]" * 200_000         # the stdlib parser recurses once per bracket
    resp = upload(client, csrf_of(client), notebook=bomb)
    assert resp.status_code == 400 and "nested too deeply" in resp.text
    assert submitted_files(course) == []


def test_a_copied_cookie_stays_dead_after_revoke_even_when_a_new_token_is_issued(course):
    from coursebase.layout import Course
    from portal.app import portal_url
    from portal.auth import issue_tokens, revoke
    from portal.store import open_store

    stolen = signed_in(course, "s1")
    cookie = stolen.cookies.get("portal_session")
    db = open_store(portal_url(Course.at(course.root)))
    revoke(db, "s1")
    new_token = issue_tokens(db, ["s1"])["s1"]
    replay = client_for(course)
    replay.cookies.set("portal_session", cookie)
    assert loc(replay.get("/me")) == "/"              # the old session does not come back
    # the new token signs in; a cookie signed for another token id of the same owner is refused
    fresh = client_for(course)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', fresh.get("/").text).group(1)
    assert loc(fresh.post("/login", data={"token": new_token, "csrf": csrf})) == "/me"
    assert fresh.get("/me").status_code == 200


def test_login_brute_force_is_stopped_per_client_address(course):
    from portal.app import FAILED_LOGINS_PER_WINDOW
    client = client_for(course)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/").text).group(1)
    for i in range(FAILED_LOGINS_PER_WINDOW):
        wrong = client.post("/login", data={"token": f"{i:043d}", "csrf": csrf})
        assert wrong.status_code == 303 and "error=" in loc(wrong)
    # from now on the address is refused, even with a right token (the guess is not even looked at)
    refused = client.post("/login", data={"token": course.tokens["s1"], "csrf": csrf})
    assert refused.status_code == 429 and "too many wrong tokens" in refused.text
    assert "portal_session" not in refused.cookies
    # successful sign-ins do not count: a whole class behind one address signs in
    from portal.app import create_app
    app = create_app(course.root)
    for _ in range(3 * FAILED_LOGINS_PER_WINDOW):
        c = TestClient(app, follow_redirects=False)
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/").text).group(1)
        assert loc(c.post("/login", data={"token": course.tokens["s2"], "csrf": token})) == "/me"


def test_pages_forbid_scripts_and_framing_and_feedback_is_sandboxed(course):
    s1 = signed_in(course, "s1")
    upload(s1, csrf_of(s1), notebook=course.notebook())
    run_worker(course)
    for path in ("/", "/leaderboard"):
        headers = client_for(course).get(path).headers
        assert "script-src" not in headers["content-security-policy"]       # default-src 'none' covers it
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    me = s1.get("/me")
    assert me.headers["cache-control"] == "no-store"
    feedback = s1.get(f"/feedback/{ASSIGNMENT}")
    assert feedback.status_code == 200 and feedback.headers["content-security-policy"].endswith("; sandbox")
    admin = signed_in(course, "__instructor__")
    shown = admin.get(f"/admin/feedback/s1/{ASSIGNMENT}")
    assert shown.status_code == 200 and "sandbox" in shown.headers["content-security-policy"]


def test_admin_feedback_takes_one_plain_student_folder_name(course):
    # a page planted outside feedback/ (here: course/ps2/ps2.html) is never served through `..`
    (course.root / ASSIGNMENT).mkdir(exist_ok=True)
    (course.root / ASSIGNMENT / "ps2.html").write_text("<p>not feedback</p>")
    admin = signed_in(course, "__instructor__")
    for student in ("..", "%2e%2e", "..%2f..%2fx", "s1%5c..", ".", "s1%00"):
        resp = admin.get(f"/admin/feedback/{student}/{ASSIGNMENT}")
        assert resp.status_code >= 400 and "not feedback" not in resp.text, student


def test_select_form_is_bounded_and_odd_ids_are_ignored_not_a_server_error(course):
    s1 = signed_in(course, "s1")
    upload(s1, csrf_of(s1), notebook=course.notebook(), csv=course.csv(50, seed=1))
    from leaderboard import api
    before = [(r.id, r.selected) for r in api.student_submissions(course.root, "s1")]
    csrf = csrf_of(s1)
    from portal.app import MAX_REQUEST_BYTES
    chunk = "a" * (900 * 1024)                                 # under Starlette's 1 MB per field
    big = "&".join(f"f{i}={chunk}" for i in range(MAX_REQUEST_BYTES // len(chunk) + 2))
    huge = s1.post("/select", content=f"csrf={csrf}&{big}".encode(),
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 413
    many = s1.post("/select", data={"csrf": csrf, **{f"f{i}": "1" for i in range(500)}})
    assert many.status_code == 400
    for odd in ("²", "9" * 5000, "-1", "1e3"):
        resp = s1.post("/select", data={"csrf": csrf, "id": odd})
        assert resp.status_code == 303 and "final submissions: none" in loc(resp), odd
    other = s1.post("/select", data={"csrf": csrf, "id": "999"})   # not theirs / not a row: the store refuses
    assert other.status_code == 303 and "err=" in loc(other)
    assert [(r.id, r.selected) for r in api.student_submissions(course.root, "s1")] == before


def test_a_student_cannot_select_another_students_submission(course):
    s1 = signed_in(course, "s1")
    upload(s1, csrf_of(s1), notebook=course.notebook(), csv=course.csv(50, seed=1))
    s3 = signed_in(course, "s3")
    upload(s3, csrf_of(s3), notebook=course.notebook(), csv=course.csv(40, seed=2))
    from leaderboard import api
    before = [(r.id, r.selected) for r in api.student_submissions(course.root, "s1")]
    mine = [(r.id, r.selected) for r in api.student_submissions(course.root, "s3")]
    resp = s3.post("/select", data={"csrf": csrf_of(s3), "id": str(before[0][0]), "student": "s1"})
    assert resp.status_code == 303 and "err=" in loc(resp)
    assert [(r.id, r.selected) for r in api.student_submissions(course.root, "s1")] == before
    assert [(r.id, r.selected) for r in api.student_submissions(course.root, "s3")] == mine


def test_a_job_that_keeps_killing_the_worker_ends_error_and_the_queue_goes_on(course):
    from coursebase.layout import Course
    from portal.app import portal_url
    from portal.store import (
        MAX_ATTEMPTS,
        JobState,
        claim,
        enqueue,
        jobs_of,
        open_store,
        requeue_abandoned,
    )

    db = open_store(portal_url(Course.at(course.root)))
    poison = enqueue(db, "s2", ASSIGNMENT)
    for _attempt in range(MAX_ATTEMPTS):
        assert claim(db).id == poison              # a worker takes it and dies before finishing
        requeue_abandoned(db)                      # what the restarted worker does first
    job = {j.id: j for j in jobs_of(db)}[poison]
    assert job.state == JobState.ERROR and "stopped 3 times" in job.message
    # a job that raises ends error at once; the queue goes on and the next student is graded
    broken = enqueue(db, "s2", "no_such_assignment")
    s1 = signed_in(course, "s1")
    upload(s1, csrf_of(s1), notebook=course.notebook())
    run_worker(course)
    states = {j.id: j.state for j in jobs_of(db)}
    assert states[broken] == JobState.ERROR
    assert sorted(states.values()) == sorted([JobState.ERROR, JobState.ERROR, JobState.DONE])
    assert f"{FULL_SCORE:g} / {FULL_SCORE:g}" in s1.get("/me").text
    assert "not graded: the grading worker stopped" in signed_in(course, "s2").get("/me").text


def test_path_traversal_in_every_path_parameter_reaches_nothing(course):
    s1 = signed_in(course, "s1")
    upload(s1, csrf_of(s1), notebook=course.notebook())
    run_worker(course)
    s2 = signed_in(course, "s2")
    secret = (course.root / "competition" / "private" / "solution.csv").read_text()
    for path in ("/download/..%2f..%2fcourse.toml", "/download/%2e%2e", f"/download/{ASSIGNMENT}%2f..",
                 "/feedback/..", "/feedback/..%2fs1", f"/feedback/..%2f..%2fs1%2f{ASSIGNMENT}",
                 "/competition/..%2fprivate%2fsolution.csv", "/competition/%2e%2e%2fprivate%2fsolution.csv",
                 "/competition/solution.csv", "/competition/..", f"/admin/feedback/s1/{ASSIGNMENT}",
                 "/admin/download/..%2f..%2fcourse"):
        resp = s2.get(path)
        assert resp.status_code in (403, 404, 405) or loc(resp) == "/me", path     # `/x/..` is `/`
        assert "Id,Category,Usage" not in resp.text and secret[:40] not in resp.text, path
        assert "s1" not in resp.text, path
    # what may be downloaded is exactly the released notebook and the public files
    assert s2.get(f"/download/{ASSIGNMENT}").status_code == 200
    assert s2.get("/competition/train.csv").status_code == 200


def test_student_cookie_gets_nothing_from_admin_routes_even_with_its_own_csrf(course):
    s1 = signed_in(course, "s1")
    upload(s1, csrf_of(s1), notebook=course.notebook(), csv=course.csv(50, seed=1))
    run_worker(course)
    toml = course.root / "course.toml"            # past the deadline: only the instructor may reveal
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).isoformat()
    toml.write_text(re.sub(r'due = "[^"]+"', f'due = "{past}"', toml.read_text()))
    csrf = csrf_of(s1)
    records = (course.root / ".autograder" / "records.jsonl").read_text()
    for action, data in (("reveal", {}), ("regrade", {"student": "s1", "assignment": ASSIGNMENT}),
                         ("override", {"student": "s1", "assignment": ASSIGNMENT, "cell": "test_value",
                                       "points": "100", "reason": "mine"})):
        resp = s1.post(f"/admin/{action}", data={"csrf": csrf, **data})
        assert resp.status_code == 403 and resp.text == "instructors only", action
    for what in ("grades", "final_grades", "leaderboard"):
        assert s1.get(f"/admin/download/{what}").status_code == 403
    assert 'id="private-hidden"' in client_for(course).get("/leaderboard").text
    assert (course.root / ".autograder" / "records.jsonl").read_text() == records
    from coursebase.layout import Course
    from portal.app import portal_url
    from portal.store import jobs_of, open_store
    assert len(jobs_of(open_store(portal_url(Course.at(course.root))))) == 1     # no regrade queued


def test_csrf_token_of_another_session_and_session_fixation(course):
    s1, s2 = signed_in(course, "s1"), signed_in(course, "s2")
    # s2's page token does not work with s1's session (a page of another origin knows neither)
    crossed = s1.post(f"/upload/{ASSIGNMENT}", data={"csrf": csrf_of(s2)},
                      files={"notebook": ("ps2.ipynb", course.notebook())})
    assert crossed.status_code == 403 and "CSRF" in crossed.text
    assert submitted_files(course) == []
    # fixation: signing in while carrying someone else's session cookie replaces it with a new one
    planted = s2.cookies.get("portal_session")
    victim = client_for(course)
    victim.cookies.set("portal_session", planted)
    victim.cookies.delete("portal_session")
    page = victim.get("/")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    victim.cookies.set("portal_session", planted)
    resp = victim.post("/login", data={"token": course.tokens["s1"], "csrf": token})
    assert resp.cookies.get("portal_session") not in (None, planted)
    victim.cookies.set("portal_session", resp.cookies.get("portal_session"))
    assert "s1: assignments" in victim.get("/me").text
    # a tampered cookie (one character changed in the payload) reads as signed out
    cookie = s1.cookies.get("portal_session")
    tampered = ("A" if cookie[0] != "A" else "B") + cookie[1:]
    forged = client_for(course)
    forged.cookies.set("portal_session", tampered)
    assert loc(forged.get("/me")) == "/"


def test_html_in_messages_and_file_names_is_escaped_and_redirects_stay_on_site(course):
    s2 = signed_in(course, "s2")
    page = s2.get("/me", params={"err": "<script>alert(1)</script>", "msg": '"><img src=x onerror=alert(1)>'}).text
    assert "<script>alert(1)" not in page and "<img src=x" not in page and "&lt;script&gt;" in page
    login = client_for(course).get("/", params={"error": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)" not in login
    bad_name = upload(s2, csrf_of(s2), notebook=b"{}", nb_name="<svg onload=alert(1)>.txt")
    assert bad_name.status_code == 400 and "<svg onload" not in bad_name.text and "&lt;svg onload" in bad_name.text
    for resp in (upload(s2, csrf_of(s2), notebook=course.notebook()),
                 s2.post("/select", data={"csrf": csrf_of(s2)}), s2.get("/")):
        assert resp.status_code == 303 and loc(resp).startswith("/") and not loc(resp).startswith("//")


def test_malformed_multipart_is_refused_and_stores_nothing_outside_the_students_folder(course):
    s2 = signed_in(course, "s2")
    csrf = csrf_of(s2)
    many = s2.post(f"/upload/{ASSIGNMENT}", data={"csrf": csrf, **{f"f{i}": "x" for i in range(3000)}})
    assert many.status_code == 400 and "the form could not be read (Too many fields" in many.text
    assert "nothing was stored" in many.text and "detail" not in many.text
    long_name = upload(s2, csrf, notebook=course.notebook(), nb_name="a" * 200_000 + ".ipynb")
    assert long_name.status_code == 400 and "the form could not be read" in long_name.text
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"notebook\"; filename=\"").encode() + \
        b"\xff\xfe\x00.ipynb\"\r\n\r\n\x00\xff{}\r\n" + f"--{boundary}--\r\n".encode()
    binary = s2.post(f"/upload/{ASSIGNMENT}", content=body,
                     headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert binary.status_code == 400 and "not UTF-8 text" in binary.text
    import gzip
    bomb = upload(s2, csrf, notebook=gzip.compress(b"\0" * 5_000_000), nb_name="ps2.ipynb")
    assert bomb.status_code == 400 and "not UTF-8 text" in bomb.text
    assert submitted_files(course) == []
    # a ../ in the file name is only a name: the notebook lands as the released file name, in s2's folder
    dotdot = upload(s2, csrf, notebook=course.notebook(), nb_name="../../../evil.ipynb")
    assert dotdot.status_code == 303 and "queued" in loc(dotdot)
    assert [f for f in submitted_files(course) if not f.startswith(".")] == \
        [f"s2/{ASSIGNMENT}/ps2.ipynb", f"s2/{ASSIGNMENT}/timestamp.txt"]
    assert not list(course.root.parent.rglob("evil.ipynb"))


def test_upload_flood_is_stopped_per_student(course, monkeypatch):
    import portal.app
    monkeypatch.setattr(portal.app, "UPLOADS_PER_WINDOW", 3)
    app = portal.app.create_app(course.root)

    def signed(owner):
        c = TestClient(app, follow_redirects=False)
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/").text).group(1)
        c.post("/login", data={"token": course.tokens[owner], "csrf": token})
        return c
    s1, s2 = signed("s1"), signed("s2")
    for i in range(3):
        assert upload(s1, csrf_of(s1), notebook=course.notebook({"value_answer": f"value = {i}"})).status_code == 303
    stored = submitted_files(course)
    flood = upload(s1, csrf_of(s1), notebook=course.notebook({"value_answer": "value = 99"}))
    assert flood.status_code == 429 and "too many uploads" in flood.text
    assert submitted_files(course) == stored
    assert upload(s2, csrf_of(s2), notebook=course.notebook()).status_code == 303    # others unaffected


def test_nothing_private_leaks_before_reveal(course):
    s1 = signed_in(course, "s1")
    upload(s1, csrf_of(s1), notebook=course.notebook(), csv=course.csv(60, seed=3))
    from leaderboard import api
    row = api.student_submissions(course.root, "s1")[0]
    assert row.private is not None and f"{row.private.value:.4f}" != f"{row.public.value:.4f}"
    pages = [s1.get("/me").text, client_for(course).get("/leaderboard").text, s1.get("/leaderboard").text]
    pages += [s1.get(f"/competition/{p.name}").text for p in (course.root / "competition" / "public").iterdir()]
    for text in pages:
        assert f"{row.private.value:.4f}" not in text
        assert "Private" not in text and "Usage" not in text


def test_over_real_http_a_forged_x_forwarded_for_does_not_escape_the_sign_in_limit(course, tmp_path):
    import os
    import signal
    import socket
    import time

    import httpx

    from portal.app import FAILED_LOGINS_PER_WINDOW
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "classroom.cli", "serve", "--course", str(course.root),
                                   "--host", "127.0.0.1", "--port", str(port)], start_new_session=True,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                first = httpx.get(base + "/", timeout=30)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, log.read_text(errors="replace")
                time.sleep(0.5)
        with httpx.Client(base_url=base, timeout=60, cookies=first.cookies) as client:
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', first.text).group(1)
            codes = [client.post("/login", data={"token": f"{i:043d}", "csrf": csrf},
                                 headers={"X-Forwarded-For": f"10.9.8.{i}"}).status_code
                     for i in range(FAILED_LOGINS_PER_WINDOW + 3)]
        assert codes == [303] * FAILED_LOGINS_PER_WINDOW + [429] * 3, log.read_text(errors="replace")
    finally:
        server.send_signal(signal.SIGTERM)             # serve stops its worker itself
        try:
            server.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        # nothing of the server is left behind: its grading worker (and the worker's fork server) exit too
        deadline = time.monotonic() + 300
        left = True
        while left and time.monotonic() < deadline:
            try:
                os.killpg(server.pid, 0)
                time.sleep(0.5)
            except ProcessLookupError:
                left = False
        if left:
            os.killpg(server.pid, signal.SIGKILL)
        assert not left, "the grading worker outlived `autograder serve` (SIGTERM)"


def test_sign_out_ends_the_session_on_the_server_so_a_copied_cookie_is_dead(course):
    s1 = signed_in(course, "s1")
    copy = client_for(course)
    copy.cookies.set("portal_session", s1.cookies.get("portal_session"))
    assert copy.get("/me").status_code == 200
    out = s1.post("/logout", data={"csrf": csrf_of(s1)})
    assert out.status_code == 303 and loc(out) == "/"
    assert loc(copy.get("/me")) == "/"                        # the copy taken before is dead too
    assert copy.post("/upload/ps2", data={"csrf": csrf_of(signed_in(course, "s1"))},
                     files={"notebook": ("ps2.ipynb", course.notebook())}).status_code == 303
    assert submitted_files(course) == []
    # the token itself still works: signing in again makes a new session
    assert signed_in(course, "s1").get("/me").status_code == 200


def test_an_earlier_portal_database_is_upgraded_with_its_tokens_kept(course, tmp_path):
    import sqlite3
    from pathlib import Path

    from alembic import command
    from alembic.config import Config

    import portal.store
    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(portal.store.__file__).with_name("migrations")))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "0001")
    from portal.auth import issue_tokens, owner_of
    with sqlite3.connect(tmp_path / "old.db") as con:
        con.execute("insert into tokens (owner, sha256, created_at) values ('s9', ?, '2026-01-01 00:00:00')",
                    (__import__("portal.auth").auth.digest("t" * 43),))
    db = portal.store.open_store(url)
    assert owner_of(db, "t" * 43) == "s9"
    assert issue_tokens(db, ["s9"])
    with sqlite3.connect(tmp_path / "old.db") as con:
        assert con.execute("select version_num from alembic_version").fetchone() == ("0002",)
        assert con.execute("select count(*) from ended_sessions").fetchone() == (0,)


def test_hostile_csv_files_get_a_status_and_a_message_never_a_server_error(course):
    s2 = signed_in(course, "s2")
    assert upload(s2, csrf_of(s2), notebook=course.notebook()).status_code == 303
    for i, data in enumerate((b"\xff\xfe" + "Id,Category\n".encode("utf-16-le"),
                              b"Id,Category\n" + b"1," + b"9" * 100_000 + b"\n",
                              b"<script>alert(1)</script>,x\n" * 3,
                              b"Id,Category\n" + b"0,1\n" * 200_000)):
        resp = upload(s2, csrf_of(s2), csv=data)
        assert resp.status_code in (303, 400), i
        page = s2.get("/me").text
        assert "<script>alert(1)" not in page
    from leaderboard import api
    statuses = [str(r.status) for r in api.student_submissions(course.root, "s2")]
    assert statuses and "scored" not in statuses


def test_html_in_ids_and_messages_is_escaped_on_the_admin_page(course):
    admin = signed_in(course, "__instructor__")
    csrf = csrf_of(admin, "/admin")
    evil = '<script>alert("x")</script>\u202eé'
    resp = admin.post("/admin/regrade", data={"csrf": csrf, "student": evil, "assignment": "<img src=x onerror=1>"})
    assert resp.status_code == 303
    run_worker(course)                                  # the job for no such student ends error
    page = admin.get("/admin").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)" in page and "&lt;img src=x onerror=1&gt;" in page
