"""The portal's grading worker: one process beside the web server, one resident warm fork server.

Contract:

* ``python -m portal.worker --course DIR`` (started by ``autograder serve``) takes jobs from the
  queue in the portal database, oldest first, and for each one runs the same engine as
  ``autograder grade ASSIGNMENT --student ID`` (sandbox, judge, gradebook, records), then writes
  that student's feedback page as ``autograder feedback`` does.
* Exactly once: a job is claimed in a transaction; jobs left ``running`` by a worker that died are
  queued again when a worker starts, and regrading them is harmless because ``grade`` skips a
  submission whose record already matches its files and tests (nothing is recorded twice).
* A job that cannot be graded ends ``error`` with a one-line message; the worker goes on.
  SIGTERM/SIGINT finish the current job, then exit. Started by ``autograder serve`` (``--parent
  PID``), it also exits after its current job once that process is gone: a server killed by a
  signal leaves no worker behind polling the queue.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from coursebase.layout import Course
from coursebase.policy import load_policy
from portal.store import JobState, claim, finish, open_store, requeue_abandoned

POLL_SECONDS = 0.3


def run_job(course: Course, student: str, assignment: str, server, force: bool = False) -> str:
    """Grade one student's current submission and write their feedback; returns a note."""
    from autograder.feedback import write_feedback
    from autograder.grade import grade_batch

    summary = grade_batch(course, assignment, students=[student], quiet=True, server=server, force=force)
    if summary is None:
        raise RuntimeError("this machine refuses the sandbox; grading is stopped")
    write_feedback(course, assignment, [student], show=False)
    if summary.graded:
        return f"graded: {summary.graded[0].status}"
    return "already graded (same files, same tests)"


def serve_forever(course_dir: Path, url: str, once: bool = False, parent: int | None = None) -> int:
    course = Course.at(course_dir)
    policy = load_policy(course.root)
    db = open_store(url)
    requeue_abandoned(db)
    stopping = {"now": False}

    def _stop(*_):
        stopping["now"] = True
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    from autograder.engine.forkserver import ForkServer
    server = ForkServer(list(policy.sandbox.preimport), policy.grading_seed)
    try:
        while not stopping["now"] and (parent is None or os.getppid() == parent):
            job = claim(db)
            if job is None:
                if once:
                    return 0
                time.sleep(POLL_SECONDS)
                continue
            try:
                note = run_job(course, job.student_id, job.assignment, server, job.force)
                finish(db, job.id, JobState.DONE, note)
            except Exception as exc:  # one bad job never stops the queue
                finish(db, job.id, JobState.ERROR, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        server.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.worker",
                                     description="Grade the portal's queued notebooks.")
    parser.add_argument("--course", default=".", help="course directory (default: here)")
    parser.add_argument("--url", default=None, help="portal database URL (default: the course's)")
    parser.add_argument("--once", action="store_true", help="exit when the queue is empty")
    parser.add_argument("--parent", type=int, default=None,
                        help="exit (after the current job) once the process with this id is no longer the parent")
    args = parser.parse_args(argv)
    from portal.app import portal_url
    course = Course.at(args.course)
    return serve_forever(course.root, args.url or portal_url(course), once=args.once, parent=args.parent)


if __name__ == "__main__":
    sys.exit(main())
