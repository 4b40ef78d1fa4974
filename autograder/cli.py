"""The `autograder` command: parses arguments, calls one function, prints the result."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .course import Course, CourseError
from .policy import PolicyError


def _course(args) -> Course:
    return Course.at(args.course)


def cmd_release(args) -> int:
    from .release import release
    release(_course(args), args.assignments or None)
    return 0


def cmd_students_import(args) -> int:
    from .roster import import_roster
    import_roster(_course(args), Path(args.roster))
    return 0


def cmd_collect(args) -> int:
    from .collect import collect
    collect(_course(args), args.assignment, Path(args.path), times=Path(args.times) if args.times else None)
    return 0


def cmd_grade(args) -> int:
    from .grade import grade
    if bool(args.assignments) == args.all:
        raise CourseError("name the assignments to grade, or pass --all (not both); "
                          "example: autograder grade 01_tensors 02_autograd")
    return grade(_course(args), None if args.all else args.assignments, students=args.student, workers=args.workers,
                 timeout=args.timeout, force=args.force, unsandboxed=args.unsandboxed,
                 scheduler=args.scheduler)


def cmd_feedback(args) -> int:
    from .feedback import write_feedback
    write_feedback(_course(args), args.assignment, students=args.student)
    return 0


def cmd_export(args) -> int:
    from .export import export
    export(_course(args), Path(args.out) if args.out else None)
    return 0


def cmd_override(args) -> int:
    from .override import override
    override(_course(args), args.student, args.assignment, args.cell, args.points, args.reason)
    return 0


def cmd_review(args) -> int:
    from .override import review
    return review(_course(args))


def cmd_grades(args) -> int:
    from .grades import final_grades
    final_grades(_course(args), Path(args.out) if args.out else None)
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(Path(args.course) if args.course else None, students=args.students)


def cmd_serve(args) -> int:
    from portal.commands import serve
    return serve(_course(args), args.host, args.port)


def cmd_tokens(args) -> int:
    from portal.commands import issue, revoke
    if args.tokens_command == "revoke":
        return revoke(_course(args), args.owner)
    issue(_course(args), args.students, args.instructor, Path(args.out) if args.out else None)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    parser.add_argument("--course", default=None, help="course directory (default: the current directory)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("release", help="generate release/ from source/ and record assignments in the gradebook")
    p.add_argument("assignments", nargs="*", help="assignment names (default: all in source/)")
    p.set_defaults(func=cmd_release)

    students = sub.add_parser("students", help="manage the roster").add_subparsers(dest="students_command", required=True)
    p = students.add_parser("import", help="import a roster CSV (student_id, first_name, last_name, email)")
    p.add_argument("roster")
    p.set_defaults(func=cmd_students_import)

    p = sub.add_parser("collect", help="import submissions from a folder or .zip into submitted/")
    p.add_argument("assignment")
    p.add_argument("path")
    p.add_argument("--times", metavar="FILE",
                   help="CSV of submission times from the LMS: a student_id (or file) column and a time column")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("grade", help="grade submissions in sandboxes, in parallel, into the gradebook")
    p.add_argument("assignments", nargs="*", help="assignment names, graded in one run over one warm start")
    p.add_argument("--all", action="store_true", help="grade every assignment in source/")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.add_argument("--workers", type=int, default=None, help="submissions at once (default: course.toml, else cores)")
    p.add_argument("--timeout", type=float, default=None, help="wall-clock seconds per notebook")
    p.add_argument("--force", action="store_true", help="regrade even if nothing changed")
    p.add_argument("--unsandboxed", action="store_true",
                   help="run without isolation where the OS refuses it (records say sandbox: none)")
    p.add_argument("--scheduler", default=None, help="grade on a Dask cluster at this address")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("feedback", help="write per-student HTML feedback")
    p.add_argument("assignment")
    p.add_argument("--student", action="append")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("export", help="write grades.csv: one row per student and assignment")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("override", help="set a manual score for one cell, kept across regrades")
    p.add_argument("student")
    p.add_argument("assignment")
    p.add_argument("cell", help="grade_id of the cell")
    p.add_argument("points", type=float)
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_override)

    p = sub.add_parser("review", help="list submissions that are not plainly graded or carry flags")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("grades", help="final grades: notebooks and leaderboard, weighted (CSV + HTML report)")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_grades)

    p = sub.add_parser("demo", help="run a whole course cycle on simulated students")
    p.add_argument("--students", type=int, default=12)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="run the course portal (web app + grading worker)",
                       description="Students sign in with a token, hand in notebooks and submission.csv, "
                                   "and see feedback and the leaderboard. Example: autograder serve --port 8000")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.set_defaults(func=cmd_serve)

    tokens = sub.add_parser("tokens", help="sign-in tokens for the portal").add_subparsers(
        dest="tokens_command", required=True)
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


def _course_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--course DIR` is accepted before or after the command (`autograder demo --course DIR`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if not any("--course" in a.option_strings for a in sub._actions):
                    sub.add_argument("--course", default=argparse.SUPPRESS, help="course directory")
                _course_everywhere(sub)


def main(argv=None) -> int:
    parser = build_parser()
    _course_everywhere(parser)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CourseError, PolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
