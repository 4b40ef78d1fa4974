"""The `leaderboard` command: parses arguments, calls one function of leaderboard.api, prints.

    leaderboard prepare [--data ROOT]            build competition/ from Fashion-MNIST (and the course secret)
    leaderboard secret --rotate                  a new course secret: every pseudonym changes
    leaderboard validate FILE [--competition D]  check a submission like scoring does (exit 1 if invalid)
    leaderboard score [SUBMISSIONS]              record + score new files, write the reports
    leaderboard select STUDENT [ID ...]          choose final submissions (no ids: list them; --clear)
    leaderboard baseline [NAME] [--csv F | --public A --private B | --remove]
    leaderboard show [--instructor]              the current leaderboard in the terminal
    leaderboard grades [--out FILE]              points per student (private accuracy -> grade)
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from coursebase.layout import CourseError
from coursebase.policy import PolicyError
from coursebase.spreadsheet import spreadsheet_row
from leaderboard.records import CsvStatus, LeaderboardError


def _console() -> Console:
    # Tables go through rich; piped output gets a wide fixed width instead of 80 columns.
    return Console(width=None if sys.stdout.isatty() else 160)


def _course(args) -> Path:
    return Path(args.course or ".")


def cmd_prepare(args) -> int:
    from leaderboard.api import prepare
    stand_in = None
    if args.stand_in:
        from leaderboard.standin import STAND_IN_NOTE
        stand_in = (args.stand_in_train, args.stand_in_test)
        print(f"Using the {STAND_IN_NOTE}: {stand_in[0]} train and {stand_in[1]} test images.")
    elif args.data is None:
        print("No --data given: trying to download Fashion-MNIST (gives up after "
              f"{args.timeout:g} s when offline)...")
    competition = prepare(_course(args), data=args.data, out=args.out, public_fraction=args.public_fraction,
                          seed=args.seed, force=args.force, timeout=args.timeout, secret_file=args.secret_file,
                          stand_in=stand_in)
    paths = competition.paths
    print(f"Wrote {paths.train} ({competition.n_train} rows), {paths.test} ({competition.n_test} rows), "
          f"{paths.sample}")
    print(f"Wrote {paths.solution} ({competition.n_public} public, {competition.n_private} private rows). "
          f"Give students only {paths.public}/.")
    return 0


def cmd_secret(args) -> int:
    from leaderboard.api import rotate_secret
    if not args.rotate:
        print("The course secret lives in competition/private/secret.txt (made by `leaderboard prepare`). "
              "`leaderboard secret --rotate` replaces it: every pseudonym changes, scores and the split do not.")
        return 0
    path = rotate_secret(_course(args))
    print(f"Wrote a new course secret to {path} (mode 600). Pseudonyms change at the next `leaderboard score`.")
    return 0


def _find_competition(args) -> Path:
    if args.competition:
        return Path(args.competition)
    candidates = [_course(args) / "competition", Path(args.file).resolve().parent / "data", Path("data")]
    for candidate in candidates:
        if (candidate / "public" / "sample_submission.csv").is_file() or (candidate / "sample_submission.csv").is_file() \
                or (candidate / "test.csv").is_file():
            return candidate
    raise LeaderboardError("cannot find the competition files (sample_submission.csv or test.csv) in "
                           f"{', '.join(str(c) for c in candidates)}; pass --competition DIR.")


def cmd_validate(args) -> int:
    from leaderboard.api import validate_file
    verdict = validate_file(args.file, _find_competition(args))
    name = Path(args.file).name
    if verdict.ok:
        print(f"OK: {verdict.message(name)} Submit it.")
        return 0
    print(verdict.message(name))     # plain print: rich would re-wrap the numbered lines
    return 1


def cmd_score(args) -> int:
    from leaderboard.api import score
    run = score(_course(args), submissions=args.submissions, solution=args.solution, out_dir=args.out,
                db_url=args.db)
    counts = run.counts()
    print(f"{run.gathered.layout}: {len(run.gathered.files)} files, {len(run.new)} new "
          f"({counts[CsvStatus.SCORED]} scored, {counts[CsvStatus.INVALID]} invalid, "
          f"{counts[CsvStatus.OVER_LIMIT]} over_limit), {run.unchanged} already recorded.")
    for note in run.notes:
        print(f"note: {note}")
    for sub in run.new:
        if sub.status != CsvStatus.SCORED:
            detail = "; ".join(line.lstrip("- ") for line in sub.message.splitlines()[1:-1]) or sub.message
            print(f"  {sub.student_id}: {sub.status}: {detail}")
    flagged = [s for s in run.standings.students if s.flags]
    for s in flagged:
        print(f"review {s.student_id}: {', '.join(s.flags)} ({s.counted.flag_detail})")
    if run.reports:
        print(f"Wrote {', '.join(str(p) for p in run.reports.all())}")
    return 0


def cmd_select(args) -> int:
    from leaderboard.api import select, student_submissions
    if args.clear:
        if args.ids:
            raise LeaderboardError("--clear takes no submission ids: it removes the whole selection.")
        select(_course(args), args.student, [], db_url=args.db)
        print(f"{args.student}: selection cleared; their best public score counts again. Run `leaderboard "
              f"score` to refresh the reports.")
        return 0
    if not args.ids:
        subs = student_submissions(_course(args), args.student, db_url=args.db)
        if not subs:
            print(f"no submissions recorded for {args.student}.")
            return 1
        table = Table(title=f"Submissions of {args.student}")
        for column in ("id", "submitted (UTC)", "status", "public accuracy", "selected"):
            table.add_column(column)
        for s in subs:
            table.add_row(str(s.id), f"{s.submitted_at:%Y-%m-%d %H:%M}", s.status.value,
                          f"{s.public.value:.4f}" if s.public else "", "yes" if s.selected else "")
        _console().print(table)
        return 0
    subs = select(_course(args), args.student, args.ids, db_url=args.db)
    chosen = [str(s.id) for s in subs if s.selected]
    print(f"{args.student}: selected {', '.join(chosen)}. Run `leaderboard score` to refresh the reports.")
    return 0


def cmd_baseline(args) -> int:
    from leaderboard.api import add_baseline, current_standings, remove_baseline
    if args.name is None:
        standings, _ = current_standings(_course(args), db_url=args.db)
        if not standings.baselines:
            print("no baselines yet; add one with `leaderboard baseline NAME --csv FILE`.")
        for b in standings.baselines:
            print(f"{b.name}: public {b.public.value:.4f}, private {b.private.value:.4f}")
        return 0
    if args.remove:
        if not remove_baseline(_course(args), args.name, db_url=args.db):
            raise LeaderboardError(f"there is no baseline called {args.name!r}.")
        print(f"removed baseline {args.name}")
        return 0
    b = add_baseline(_course(args), args.name, csv_path=args.csv, public=args.public, private=args.private,
                     solution=args.solution, db_url=args.db)
    print(f"baseline {b.name}: public {b.public.value:.4f}, private {b.private.value:.4f}")
    return 0


def cmd_show(args) -> int:
    from leaderboard.api import current_standings
    standings, sizes = current_standings(_course(args), db_url=args.db)
    if args.instructor:
        table = Table(title="Leaderboard — instructor view (private accuracy; do not publish)")
        for column in ("#", "student", "status", "private", "95 % CI", "public", "grade", "flags"):
            table.add_column(column, justify="right" if column in ("#", "private", "public", "grade") else "left")
        for row in standings.instructor:
            if row.baseline:
                table.add_row("—", f"[italic]{escape(row.name)} (baseline)[/italic]", "", f"{row.accuracy.value:.4f}",
                              f"{row.accuracy.low:.4f}–{row.accuracy.high:.4f}", "", "", "")
                continue
            s = row.student
            private, public = s.counted.private_score, s.counted.public_score
            table.add_row(str(s.rank), escape(s.student_id), s.status.value, f"{private.value:.4f}",
                          f"{private.low:.4f}–{private.high:.4f}", f"{public.value:.4f}",
                          f"{s.points:g}/{s.max_points:g}", ", ".join(s.flags))
        for s in standings.students:
            if s.rank is None:
                table.add_row("", escape(s.student_id), s.status.value, "", "", "", f"{s.points:g}/{s.max_points:g}", "")
    else:
        table = Table(title="Leaderboard (public accuracy)")
        for column in ("#", "participant", "public accuracy", "95 % interval", "entries"):
            table.add_column(column, justify="left" if column == "participant" else "right")
        for row in standings.public:
            name = f"[italic]{escape(row.name)} (baseline)[/italic]" if row.baseline else escape(row.name)
            table.add_row("—" if row.baseline else str(row.rank), name, f"{row.accuracy.value:.4f}",
                          f"{row.accuracy.low:.4f}–{row.accuracy.high:.4f}", "" if row.baseline else str(row.entries))
    if sizes:
        table.caption = f"public split {sizes[0]} rows, private split {sizes[1]} rows"
    if not standings.public and not standings.students:
        print("nothing scored yet: run `leaderboard score` first.")
        return 0
    _console().print(table)
    return 0


def cmd_grades(args) -> int:
    from leaderboard.api import current_standings
    standings, _ = current_standings(_course(args), db_url=args.db)
    table = Table(title="Leaderboard grades (private accuracy of the submission that counts)")
    for column in ("student", "status", "private accuracy", "grade", "flags", "message"):
        table.add_column(column)
    for s in standings.students:
        table.add_row(escape(s.student_id), s.status.value, f"{s.final.private_score.value:.4f}" if s.final else "",
                      f"{s.points:g}/{s.max_points:g}", ", ".join(s.flags), escape(s.message))
    _console().print(table)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["student_id", "status", "private_accuracy", "public_accuracy", "points",
                             "max_points", "flags", "message"])
            for s in standings.students:
                r = s.result()
                private = "" if r.private_accuracy is None else f"{r.private_accuracy:.4f}"
                public = "" if r.public_accuracy is None else f"{r.public_accuracy:.4f}"
                writer.writerow(spreadsheet_row([r.student_id, r.status, private, public, f"{r.points:g}",
                                                 f"{r.max_points:g}", ",".join(r.flags), r.message.replace("\n", " ")]))
        print(f"Wrote {args.out}")
    flagged = [s.student_id for s in standings.students if s.flags]
    if flagged:
        print(f"Review before publishing grades: {', '.join(flagged)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leaderboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", default=None, help="course directory (default: the current directory)")
    # The same option after the command too ("leaderboard score --course X"); SUPPRESS keeps
    # the subparser from resetting a value given before the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course", default=argparse.SUPPRESS, help="course directory")
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", default=None, help="SQLAlchemy URL of the database (default: course.toml [leaderboard] url)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", parents=[common], help="build competition/ (public + private files) from Fashion-MNIST")
    p.add_argument("--data", default=None, help="folder holding FashionMNIST/raw/*-ubyte[.gz] (torchvision's layout)")
    p.add_argument("--out", default=None, help="competition folder (default: <course>/competition)")
    p.add_argument("--public-fraction", type=float, default=None, help="share of test rows on the public board")
    p.add_argument("--seed", type=int, default=None,
                   help="split seed for tests only "
                        "(default: derived from the course secret; a known seed makes the split public)")
    p.add_argument("--secret-file", default=None,
                   help="reuse the course secret in this file (refused if the file looks public)")
    p.add_argument("--force", action="store_true", help="replace an existing, different competition")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a download")
    p.add_argument("--stand-in", action="store_true",
                   help="build the competition from the labelled synthetic stand-in (offline courses, rehearsals)")
    p.add_argument("--stand-in-train", type=int, default=6000, help="stand-in train images (default 6000)")
    p.add_argument("--stand-in-test", type=int, default=2000, help="stand-in test images (default 2000)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("secret", parents=[common], help="make a new course secret (--rotate): every pseudonym changes")
    p.add_argument("--rotate", action="store_true", help="replace the secret in competition/private/secret.txt")
    p.set_defaults(func=cmd_secret)

    p = sub.add_parser("validate", parents=[common], help="check a submission CSV the way scoring does")
    p.add_argument("file")
    p.add_argument("--competition", default=None,
                   help="folder with sample_submission.csv or test.csv (default: <course>/competition, then data/)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("score", parents=[common, db], help="record and score new submissions, write the reports")
    p.add_argument("submissions", nargs="?", default=None,
                   help="a submitted/ tree or a flat folder of <student_id>_*.csv (default: <course>/submitted)")
    p.add_argument("--solution", default=None, help="solution.csv (default: <course>/competition/private/solution.csv)")
    p.add_argument("--out", default=None, help="report folder (default: <course>/reports/leaderboard)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("select", parents=[common, db], help="choose a student's final submissions (no ids: list them)")
    p.add_argument("student")
    p.add_argument("ids", nargs="*", type=int, metavar="SUBMISSION")
    p.add_argument("--clear", action="store_true", help="remove the selection (the best public score counts)")
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("baseline", parents=[common, db], help="add, replace, remove or list baseline rows")
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("--csv", default=None, help="the baseline model's submission CSV, scored like a student's")
    p.add_argument("--public", type=float, default=None, help="public accuracy, when there is no CSV")
    p.add_argument("--private", type=float, default=None, help="private accuracy, when there is no CSV")
    p.add_argument("--solution", default=None)
    p.add_argument("--remove", action="store_true")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("show", parents=[common, db], help="print the current leaderboard")
    p.add_argument("--instructor", action="store_true", help="private accuracies, grades and flags")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("grades", parents=[common, db], help="print points per student; --out writes a CSV")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_grades)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (LeaderboardError, CourseError, PolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
