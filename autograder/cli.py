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
    import_roster(_course(args), Path(args.roster), args.format)
    return 0


def cmd_collect(args) -> int:
    from .collect import collect
    collect(_course(args), args.assignment, Path(args.path))
    return 0


def cmd_grade(args) -> int:
    from .grade import grade
    return grade(_course(args), args.assignment, students=args.student, workers=args.workers,
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
    p.add_argument("--format", choices=("canvas", "moodle", "csv"), default=None,
                   help="the roster's layout (default: detected from its header when unambiguous)")
    p.set_defaults(func=cmd_students_import)

    p = sub.add_parser("collect", help="import submissions from a folder or .zip into submitted/")
    p.add_argument("assignment")
    p.add_argument("path")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("grade", help="grade submissions in sandboxes, in parallel, into the gradebook")
    p.add_argument("assignment")
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
