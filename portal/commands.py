"""``autograder serve`` and ``autograder tokens``: the portal's two commands (thin; the work is elsewhere).

* ``serve`` starts the grading worker (``python -m portal.worker``) as its own process, then the
  web app under uvicorn in this one; stopping the server (Ctrl-C, SIGTERM) stops the worker after
  its current job (and a worker whose server was killed exits by itself after its current job).
  A worker that dies is restarted; queued jobs survive any restart.
  The client address (which the sign-in rate limit counts by) is the TCP peer's: an
  ``X-Forwarded-For`` header is believed only with ``behind_proxy=True``, and then only from a
  proxy on this machine (127.0.0.1), which must *set* the header, not append to it.
* ``tokens issue [ID ...]`` makes a token for each student on the roster (or the named ones) and
  writes ``student_id,token`` to a CSV (default ``exports/portal-tokens.csv``, mode 0600) to mail
  out; ``--instructor`` makes the instructor's token. ``tokens revoke ID`` revokes one owner's
  tokens (``__instructor__`` for the instructor) and signs them out.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from coursebase.layout import Course, CourseError
from portal.store import ADMIN


def _roster(course: Course) -> list[str]:
    from autograder.gradebook import open_gradebook
    if not course.gradebook_path.exists():
        raise CourseError(f"no gradebook at {course.gradebook_path}; import the roster first "
                          f"(`autograder students import roster.csv`)")
    with open_gradebook(course.db_url) as gb:
        return sorted(s.id for s in gb.students)


def issue(course: Course, students: list[str], instructor: bool, out: Path | None) -> Path:
    from portal.app import portal_url
    from portal.auth import issue_tokens
    from portal.store import open_store

    roster = _roster(course)
    if instructor:
        owners = [ADMIN]
    else:
        unknown = sorted(set(students) - set(roster))
        if unknown:
            raise CourseError(f"not on the roster: {', '.join(unknown)}; import them first")
        owners = students or roster
        if not owners:
            raise CourseError("the roster is empty; import it first (`autograder students import roster.csv`)")
    tokens = issue_tokens(open_store(portal_url(course)), owners)
    out = out or course.exports / ("portal-instructor-token.csv" if instructor else "portal-tokens.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "token"])
        for owner, token in tokens.items():
            writer.writerow([owner, token])
    print(f"{len(tokens)} token(s) written to {out} (keep it private; only hashes are stored)")
    return out


def revoke(course: Course, owner: str) -> int:
    from portal.app import portal_url
    from portal.auth import revoke as revoke_owner
    from portal.store import open_store

    n = revoke_owner(open_store(portal_url(course)), owner)
    print(f"revoked {n} token(s) of {owner}" if n else f"{owner} had no active token")
    return 0


def _worker(course: Course) -> subprocess.Popen:
    # --parent: uvicorn re-raises SIGTERM after its shutdown, so this process can die before its
    # `finally` stops the worker; the worker then notices it was orphaned and exits by itself
    return subprocess.Popen([sys.executable, "-m", "portal.worker", "--course", str(course.root),
                             "--parent", str(os.getpid())])


def serve(course: Course, host: str, port: int, behind_proxy: bool = False) -> int:
    import uvicorn

    from portal.app import create_app

    app = create_app(course.root)
    worker = {"proc": _worker(course)}
    stop = threading.Event()

    def keep_worker_alive():
        while not stop.wait(2.0):
            if worker["proc"].poll() is not None:
                print("portal: the grading worker stopped; restarting it", file=sys.stderr)
                worker["proc"] = _worker(course)
    threading.Thread(target=keep_worker_alive, daemon=True).start()
    print(f"portal for {course.root} on http://{host}:{port}/ (Ctrl-C stops it)")
    try:
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: any local client could then
        # pick its own address and escape the per-address sign-in limit
        uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=behind_proxy,
                    forwarded_allow_ips="127.0.0.1")
    finally:
        stop.set()
        proc = worker["proc"]
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            time.sleep(0.1)
    return 0
