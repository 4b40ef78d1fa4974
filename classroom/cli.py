"""The `autograder` command: parses arguments, calls one function, prints the result.

Exit codes (the same for every command):

* 0: done, and everything is graded with nothing to look at;
* 1: done, but something needs a person (`grade`: a submission that is not
  `graded` or is flagged `attack`/`tampered`; `review`: anything listed;
  `grades`: a final grade in `review`; `check`: a visible test failed);
* 2: usage or input error (bad option or value, unknown course, assignment or
  student, invalid course.toml or roster); nothing was changed;
* 3: `grade` only: this machine refuses the sandbox (see `--unsandboxed`).

`-q` prints only errors; `-v` prints whole messages (`grade`'s table). Listing commands (`review`, `export`, `grades`, `policy`)
take `--json` (on stdout). Output piped to a file is not cut to 80 columns.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from coursebase.layout import Course, CourseError
from coursebase.policy import PolicyError


def _course(args) -> Course:
    return Course.at(args.course)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytorch-mlp-course")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "unknown (not installed)"


def _number(convert, what: str, ok, bound: str):
    """An argparse type: ``convert(text)``, refused in plain words unless ``ok(value)``."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value
    parse.__name__ = what
    return parse


_positive_float = _number(float, "a number of seconds", lambda v: math.isfinite(v) and v > 0,
                          "a number of seconds above 0")
_positive_int = _number(int, "a whole number", lambda v: v >= 1, "1 or more")
_finite_float = _number(float, "a number", math.isfinite, "a finite number")


def _print_json(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, default=str))


def cmd_release(args) -> int:
    from autograder.release import release

    console = None
    if args.quiet:
        import io

        from rich.console import Console
        console = Console(file=io.StringIO())
    release(_course(args), args.assignments or None, console=console)
    return 0


def cmd_students_import(args) -> int:
    from autograder.roster import import_roster
    import_roster(_course(args), Path(args.roster), args.format, show=not args.quiet)
    return 0


def cmd_collect(args) -> int:
    from autograder.collect import collect
    collect(_course(args), args.assignment, Path(args.path), times=Path(args.times) if args.times else None)
    return 0


def cmd_grade(args) -> int:
    from autograder.grade import grade
    if bool(args.assignments) == args.all:
        raise CourseError("name the assignments to grade, or pass --all (not both); "
                          "example: autograder grade 01_tensors 02_dot_product")
    return grade(_course(args), None if args.all else args.assignments, students=args.student, workers=args.workers,
                 timeout=args.timeout, force=args.force, unsandboxed=args.unsandboxed,
                 scheduler=args.scheduler, quiet=args.quiet, full=args.verbose)


def cmd_feedback(args) -> int:
    from autograder.feedback import write_feedback
    write_feedback(_course(args), args.assignment, students=args.student, show=not args.quiet)
    return 0


def _row_json(row) -> dict:
    return {"student_id": row.student_id, "assignment": row.assignment, "status": row.status.value,
            "flags": dict(row.flags), "raw_score": row.raw_score, "late_penalty": row.late_penalty,
            "score": row.score, "max_score": row.max_score, "message": row.message,
            "cells": {c.grade_id: c.score for c in row.cells}}


def cmd_export(args) -> int:
    from autograder.export import export
    result = export(_course(args), Path(args.out) if args.out else None, show=not (args.quiet or args.json))
    if args.json:
        _print_json([_row_json(r) for r in result.rows])
    return 0


def cmd_override(args) -> int:
    from autograder.override import override
    override(_course(args), args.student, args.assignment, args.cell, args.points, args.reason,
             show=not args.quiet)
    return 0


def cmd_review(args) -> int:
    from autograder.review import review, review_rows
    if args.json:
        rows = review_rows(_course(args))
        _print_json([_row_json(r) for r in rows])
        return 1 if rows else 0
    return review(_course(args), show=not args.quiet)


def cmd_grades(args) -> int:
    from finalgrades.combine import FinalStatus
    from finalgrades.command import final_grades
    result = final_grades(_course(args), Path(args.out) if args.out else None, show=not (args.quiet or args.json))
    if args.json:
        _print_json([{"student_id": g.student_id, "student_name": g.student_name, "final_percent": g.percent,
                      "final_status": g.status.value, "message": g.message,
                      "parts": {p.component.name: {"status": p.component.status, "score": p.component.score,
                                                   "max_score": p.component.max_score, "weight": p.weight,
                                                   "flags": dict(p.component.flags)} for p in g.parts}}
                     for g in result.grades])
    return 1 if any(g.status == FinalStatus.REVIEW for g in result.grades) else 0


def cmd_policy(args) -> int:
    from dataclasses import asdict

    from coursebase.policy import load_policy, render_policy
    policy = load_policy(_course(args).root)
    if args.json:
        data = asdict(policy)
        data["source"] = str(policy.source) if policy.source else None
        _print_json(data)
    else:
        print(render_policy(policy), end="")
    return 0


def cmd_check(args) -> int:
    from autograder.check import CheckError, report, run_check
    try:
        result = run_check(Path(args.notebook), args.timeout)
    except CheckError as exc:
        raise CourseError(str(exc)) from None
    if not args.quiet:
        print(report(result))
    return 0 if result.ok else 1


def cmd_demo(args) -> int:
    from classroom.demo.runner import run_demo
    return run_demo(Path(args.course) if args.course else None, students=args.students)


def cmd_serve(args) -> int:
    from portal.commands import serve
    return serve(_course(args), args.host, args.port, behind_proxy=args.behind_proxy)


def cmd_tokens(args) -> int:
    from portal.commands import issue, revoke
    if args.tokens_command == "revoke":
        return revoke(_course(args), args.owner)
    issue(_course(args), args.students, args.instructor, Path(args.out) if args.out else None)
    return 0


COMMANDS = {
    # name: (help, description, example)
    "release": ("generate release/ from source/ and record assignments in the gradebook",
                "Check every source notebook, run nbgrader's generate_assignment and record the assignments, "
                "their graded cells and hidden tests in the gradebook. The previous release/ stays when a "
                "notebook is rejected.",
                "autograder release 01_tensors"),
    "students": ("manage the roster", "Manage the roster (the gradebook's students).",
                 "autograder students import roster.csv"),
    "collect": ("import submissions from a folder or .zip into submitted/",
                "Copy each student's files from an LMS download (a folder or a .zip) into "
                "submitted/<student>/<assignment>/, renaming the notebook to the released name.",
                "autograder collect 01_tensors ~/Downloads/01_tensors.zip"),
    "grade": ("grade submissions in sandboxes, in parallel, into the gradebook",
              "Run every new or changed submission in its own sandbox, judge its tests outside the student's "
              "process, and write the scores into the gradebook, autograded/ and .autograder/records.jsonl. "
              "Exit 1 when a submission is not graded or is flagged attack/tampered.",
              "autograder grade 01_tensors --workers 2 --timeout 300"),
    "feedback": ("write per-student HTML feedback",
                 "Write feedback/<student>/<assignment>/<notebook>.html for every student with a graded "
                 "submission: scores, their own work and outputs, visible tests only.",
                 "autograder feedback 01_tensors --student s017"),
    "export": ("write grades.csv: one row per student and assignment",
               "Write exports/grades.csv (one row per rostered student and assignment, with status, flags, "
               "late penalty and per-cell scores) and a Gradescope-style results.json per submission.",
               "autograder export --out grades.csv"),
    "override": ("set a manual score for one cell, kept across regrades",
                 "Set nbgrader's manual score of one graded cell of one submission, with a reason; it is kept "
                 "across regrades and shown as the override flag.",
                 "autograder override s017 01_tensors test_q6_reshape 2 --reason \"reshape(-1) is fine here\""),
    "review": ("list submissions that are not plainly graded or carry flags",
               "List every submission whose status is not graded or that carries a flag, with what was seen. "
               "Exit 1 when there is anything to review.",
               "autograder review --json"),
    "grades": ("final grades: notebooks and leaderboard, weighted (CSV, LMS files, HTML report)",
               "Combine every assignment and the leaderboard with the course.toml weights into "
               "exports/final_grades.csv, the Canvas and Moodle import files, final_statuses.csv and "
               "reports/course_report.html. Exit 1 when a final grade needs review.",
               "autograder grades"),
    "policy": ("print the effective course.toml, defaults filled in",
               "Print the course policy as the autograder reads it: every key of course.toml with its "
               "default where the file leaves it out. Checks every value on the way.",
               "autograder policy --json"),
    "check": ("for students: run a notebook and its visible tests locally, like otter check",
              "Run your notebook top to bottom in a fresh kernel (the notebook's own checks included) and list "
              "every visible test as passed or failed, with its points. Needs no torch, nbgrader or Dask "
              "(also installed as `autograder-check`). Exit 1 when a visible test fails.",
              "autograder check 01_tensors.ipynb"),
    "demo": ("run a whole course cycle on simulated students",
             "Build a course in a temporary folder (or --course DIR, new or empty) and run release, collect, "
             "grade, feedback, the leaderboard and final grades on simulated students.",
             "autograder demo --students 12"),
    "serve": ("run the course portal (web app + grading worker)",
              "Start the course portal on this course: students sign in with a token, hand in notebooks and "
              "submission.csv, and see feedback and the leaderboard; the instructor watches the course. A "
              "grading worker runs beside the web process. See docs/portal.md.",
              "autograder serve --host 127.0.0.1 --port 8000"),
    "tokens": ("sign-in tokens for the portal",
               "Issue or revoke the portal's sign-in tokens. Only their hashes are stored; the CSV written by "
               "`issue` is the only copy of the tokens.",
               "autograder tokens issue --out tokens.csv"),
}


def _add(sub, name: str):
    help_text, description, example = COMMANDS[name]
    return sub.add_parser(name, help=help_text, description=description, epilog=f"example:\n  {example}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--course", default=None, help="course directory (default: the current directory)")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true", help="whole messages in tables")
    loudness.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _add(sub, "release")
    p.add_argument("assignments", nargs="*", help="assignment names (default: all in source/)")
    p.set_defaults(func=cmd_release)

    students = _add(sub, "students").add_subparsers(dest="students_command", required=True, metavar="ACTION")
    p = students.add_parser("import", help="import a roster (a plain CSV, or a Canvas or Moodle export)",
                            description="Import the roster into the gradebook: all of it or, with any problem, "
                                        "nothing. Every column is kept (see README, LMS).",
                            epilog="examples:\n  autograder students import roster.csv\n"
                                   "  autograder students import canvas_export.csv --format canvas",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("roster", help="the roster file (CSV, UTF-8; comma, semicolon or tab)")
    p.add_argument("--format", choices=("canvas", "moodle", "csv"), default=None,
                   help="the roster's layout (default: detected from its header when unambiguous)")
    p.set_defaults(func=cmd_students_import)

    p = _add(sub, "collect")
    p.add_argument("assignment", help="the assignment the files belong to")
    p.add_argument("path", help="a folder or .zip of submissions, one per student")
    p.add_argument("--times", metavar="FILE",
                   help="CSV of submission times from the LMS: a student_id (or file) column and a time column")
    p.set_defaults(func=cmd_collect)

    p = _add(sub, "grade")
    p.add_argument("assignments", nargs="*", help="assignment names, graded in one run over one warm start")
    p.add_argument("--all", action="store_true", help="grade every assignment in source/")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="submissions at once, 1 or more (default: course.toml, else cores)")
    p.add_argument("--timeout", type=_positive_float, default=None,
                   help="wall-clock seconds per notebook, above 0 (default: course.toml limits.notebook_timeout)")
    p.add_argument("--force", action="store_true", help="regrade even if nothing changed")
    p.add_argument("--unsandboxed", action="store_true",
                   help="run without isolation where the OS refuses it (records say sandbox: none)")
    p.add_argument("--scheduler", default=None, help="grade on a Dask cluster at this address")
    p.set_defaults(func=cmd_grade)

    p = _add(sub, "feedback")
    p.add_argument("assignment", help="the assignment to write pages for")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.set_defaults(func=cmd_feedback)

    p = _add(sub, "export")
    p.add_argument("--out", default=None, help="where to write the CSV (default: exports/grades.csv)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of the summary")
    p.set_defaults(func=cmd_export)

    p = _add(sub, "override")
    p.add_argument("student", help="the student's id")
    p.add_argument("assignment", help="the assignment")
    p.add_argument("cell", help="grade_id of the cell")
    p.add_argument("points", type=_finite_float, help="the new score, 0 to the cell's points")
    p.add_argument("--reason", required=True, help="why (shown to the student and in the export)")
    p.set_defaults(func=cmd_override)

    p = _add(sub, "review")
    p.add_argument("--json", action="store_true", help="print the submissions to review as JSON")
    p.set_defaults(func=cmd_review)

    p = _add(sub, "grades")
    p.add_argument("--out", default=None, help="where to write the final-grades CSV (default: exports/final_grades.csv)")
    p.add_argument("--json", action="store_true", help="print the final grades as JSON instead of the table")
    p.set_defaults(func=cmd_grades)

    p = _add(sub, "policy")
    p.add_argument("--json", action="store_true", help="print the policy as JSON")
    p.set_defaults(func=cmd_policy)

    p = _add(sub, "check")
    p.add_argument("notebook", help="the notebook to check (.ipynb)")
    p.add_argument("--timeout", type=_positive_float, default=600.0, help="seconds per cell, above 0 (default 600)")
    p.set_defaults(func=cmd_check)

    p = _add(sub, "demo")
    p.add_argument("--students", type=_positive_int, default=12, help="how many simulated students (at least 7)")
    p.set_defaults(func=cmd_demo)

    p = _add(sub, "serve")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=_positive_int, default=8000, help="port (default: 8000)")
    p.add_argument("--behind-proxy", action="store_true",
                   help="trust the reverse proxy's X-Forwarded-For for client addresses (sign-in limits); "
                        "only when every request comes through that proxy")
    p.set_defaults(func=cmd_serve)

    tokens = _add(sub, "tokens").add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    p = tokens.add_parser("issue", help="make tokens (all rostered students, or the named ones) into a CSV",
                          description="Example: autograder tokens issue --out tokens.csv")
    p.add_argument("students", nargs="*", help="student ids (default: the whole roster)")
    p.add_argument("--instructor", action="store_true", help="make the instructor's token instead")
    p.add_argument("--out", default=None, help="CSV to write (default: exports/portal-tokens.csv)")
    p.set_defaults(func=cmd_tokens)
    p = tokens.add_parser("revoke", help="revoke one owner's tokens (signs them out)",
                          description="Example: autograder tokens revoke s017")
    p.add_argument("owner", help="student id, or __instructor__")
    p.set_defaults(func=cmd_tokens)
    return parser


def _everywhere(parser: argparse.ArgumentParser) -> None:
    """`--course DIR`, `-v` and `-q` are accepted before or after the command (`autograder demo --course DIR`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if not any("--course" in a.option_strings for a in sub._actions):
                    sub.add_argument("--course", default=argparse.SUPPRESS, help="course directory")
                if not any("--quiet" in a.option_strings for a in sub._actions):
                    sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                                     help=argparse.SUPPRESS)
                    sub.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                                     help=argparse.SUPPRESS)
                _everywhere(sub)


def main(argv=None) -> int:
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    if piped:
        os.environ["COLUMNS"] = "400"   # piped or redirected: tables at full width, not cut at 80 columns
    try:
        return _main(argv)
    finally:
        if piped:
            os.environ.pop("COLUMNS", None)


def _main(argv) -> int:
    parser = build_parser()
    _everywhere(parser)
    args = parser.parse_args(argv)
    if args.verbose and args.quiet:
        parser.error("-v and -q cannot be used together")
    try:
        return int(args.func(args) or 0)
    except (CourseError, PolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
