"""`autograder demo [--course DIR] [--students N]`: one whole course cycle on simulated students.

The orchestrator. Each stage prints its progress and how long it took, and the end prints the
time per stage and the total (:attr:`DemoResult.timings`):

1. **course.** A fresh course directory (a temp folder, or ``--course DIR``, which must be new
   or empty; anything else is refused before a file is written) gets the course that ships with
   the package (:mod:`.course`) with the limits shortened for the demo (the endless loop and the
   memory hog end in seconds). All six assignments are released.
2. **competition.** From Fashion-MNIST or a labelled synthetic stand-in (:mod:`.dataset`), a
   subset (default 6,000 train / 2,000 test images) so the demo stays fast. The output says which.
3. **students.** A cohort (:mod:`.cohort`) of at least 7 simulated students, each with a story.
   Their notebooks are written and every honest student's MLP notebook is run on the student
   side, two at a time, with short training (:mod:`.students`); the uploads are packed into one
   LMS-style zip per assignment plus a roster (:mod:`.lms`).
4. **collect**, 5. **grade** (sandboxed, parallel, one warm parent for all six assignments),
   6. **feedback** (pages and the per-assignment export), 7. **leaderboard**, 8. **final grades**:
   the project's own commands' functions, as an instructor would run them.

Everything the simulation writes outside the course's own layout lives in ``<course>/demo/``
(the students' working folders, the roster, the LMS zips). :func:`run_demo` is the CLI's
entry: 0 when the whole cycle ran, 2 with a one-line message when a stage could not run.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from classroom.demo import DemoError
from classroom.demo.cohort import MLP, Csv, SimStudent, cohort
from classroom.demo.course import DEMO_LIMITS, make_course
from classroom.demo.dataset import find_dataset
from classroom.demo.lms import lms_zip, write_roster
from classroom.demo.students import attach_csvs, prepare_students, run_mlp_notebooks
from coursebase.layout import ASSIGNMENTS, Course, CourseError
from coursebase.policy import load_policy


@dataclass
class DemoResult:
    course: Course
    students: list[SimStudent]
    dataset: str
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.timings.values())


def demo(course_dir: Path | None = None, students: int = 12, *, n_train: int = 6000, n_test: int = 2000,
         download: bool = True, console=None) -> DemoResult:
    """Run the whole cycle (see the module docstring); raises DemoError/CourseError when a stage cannot run.

    ``download=False`` keeps the demo off the network (tests): Fashion-MNIST only from disk, else the stand-in.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = console or Console()
    cohort_ = cohort(students)
    root = Path(course_dir).resolve() if course_dir else Path(tempfile.mkdtemp(prefix="autograder-demo-"))
    result = DemoResult(Course(root), cohort_, "")
    stages = ["course", "competition", "students", "collect", "grade", "feedback", "leaderboard", "final grades"]
    clock = {"start": time.monotonic()}

    def stage(name: str) -> None:
        number = stages.index(name) + 1
        console.rule(f"[bold]{number}/{len(stages)} {name}")
        clock["start"] = time.monotonic()

    def done(name: str) -> None:
        result.timings[name] = time.monotonic() - clock["start"]
        console.print(f"[dim]{name}: {result.timings[name]:.1f} s[/dim]")

    def bar() -> Progress:
        return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)

    # 1. course ------------------------------------------------------------------------------
    stage("course")
    course = make_course(root)
    result.course = course
    console.print(f"course directory: {root}  (limits for the demo: "
                  + ", ".join(f"{k} = {v}" for k, v in DEMO_LIMITS.items()) + ")")
    from autograder.release import release

    release(course, None, console=console)
    done("course")

    # 2. competition -------------------------------------------------------------------------
    stage("competition")
    from leaderboard.prepare import prepare_competition

    policy = load_policy(root)
    dataset = find_dataset(course, n_train, n_test, policy.leaderboard.split_seed, console.print,
                           download=download)
    result.dataset = dataset.label
    competition = prepare_competition(course.competition, dataset.images_train, dataset.labels_train,
                                      dataset.images_test, dataset.labels_test,
                                      public_fraction=policy.leaderboard.public_fraction,
                                      seed=policy.leaderboard.split_seed)
    style = "green" if dataset.real else "bold yellow"
    console.print(f"data: [{style}]{dataset.label}[/{style}]")
    console.print(f"competition: {competition.n_train:,} training rows, {competition.n_test:,} test rows "
                  f"({competition.n_public:,} public / {competition.n_private:,} private) in {course.competition}")
    done("competition")

    # 3. students ----------------------------------------------------------------------------
    stage("students")
    table = Table(title=f"{len(cohort_)} simulated students")
    for column in ("student", "name", "what they hand in", "MLP settings", "submission.csv"):
        table.add_column(column)
    for s in cohort_:
        settings = (f"hidden {list(s.training.hidden_sizes)}, {s.training.epochs} epochs" if s.training else "—")
        csv_words = {Csv.OWN: "from their own run", Csv.SAMPLE: "the sample submission",
                     Csv.COPY: f"copy of {s.copy_from}'s", Csv.NONE: "none"}[s.csv]
        table.add_row(s.student_id, f"{s.first_name} {s.last_name}", s.story, settings, csv_words)
    console.print(table)
    demo_dir = root / "demo"
    uploads = prepare_students(course, cohort_, demo_dir / "students")
    with bar() as progress:
        errors = run_mlp_notebooks(course, uploads[MLP], progress)
    for student_id, error in sorted(errors.items()):
        result.notes.append(f"{student_id}'s MLP notebook failed on the student side: {error}")
        console.print(f"[yellow]note:[/yellow] {result.notes[-1]}")
    attach_csvs(course, uploads[MLP])
    zips = {a: lms_zip(demo_dir / "lms" / f"{a}.zip", uploads[a]) for a in ASSIGNMENTS}
    roster = write_roster(demo_dir / "roster.csv", cohort_)
    console.print(f"LMS downloads: {demo_dir / 'lms'} ({', '.join(p.name for p in zips.values())}); "
                  f"roster: {roster}")
    done("students")

    # 4. collect -----------------------------------------------------------------------------
    stage("collect")
    from autograder.collect import collect
    from autograder.roster import import_roster

    import_roster(course, roster)
    for assignment in ASSIGNMENTS:
        summary = collect(course, assignment, zips[assignment], show=False)
        skipped = "; ".join(f"{s.name}: {s.reason}" for s in summary.skipped)
        console.print(f"collected {assignment}: {len(summary.collected)} submission(s)"
                      + (f", skipped {skipped}" if skipped else ""))
    done("collect")

    # 5. grade -------------------------------------------------------------------------------
    stage("grade")
    from autograder.grade import grade_many

    batches = grade_many(course, list(ASSIGNMENTS), quiet=False)  # one warm start for every assignment
    if batches is None:
        raise DemoError("the grading sandbox is not available on this machine (see the error above); the demo "
                        "needs root or unprivileged user namespaces")
    for assignment, batch in batches.items():
        counts = ", ".join(f"{n} {status}" for status, n in sorted(batch.counts().items()))
        console.print(f"graded {assignment}: {counts} (sandbox: {batch.sandbox})")
    done("grade")

    # 6. feedback ----------------------------------------------------------------------------
    stage("feedback")
    from autograder.export import export
    from autograder.feedback import write_feedback

    for assignment in ASSIGNMENTS:
        pages = write_feedback(course, assignment, show=False)
        console.print(f"feedback {assignment}: {len(pages.written)} page(s)"
                      + (f", none for {', '.join(sorted(pages.skipped))} (nothing submitted)" if pages.skipped else ""))
    exported = export(course, show=False)
    console.print(f"per-assignment grades: {exported.path}")
    done("feedback")

    # 7. leaderboard -------------------------------------------------------------------------
    stage("leaderboard")
    from leaderboard.api import score_course

    board = score_course(root)
    for item in board:
        accuracy = f"{item.private_accuracy:.4f}" if item.private_accuracy is not None else "—"
        console.print(f"  {item.student_id}: {item.status}, private accuracy {accuracy}, "
                      f"{item.points:g}/{item.max_points:g} points" + (f", flags {', '.join(item.flags)}"
                                                                      if item.flags else ""))
    done("leaderboard")

    # 8. final grades ------------------------------------------------------------------------
    stage("final grades")
    from finalgrades.command import final_grades

    final = final_grades(course, None, console=console)
    done("final grades")

    board_dir = course.reports / "leaderboard"
    paths = Table(title="Where to look", show_header=False)
    paths.add_column("what")
    paths.add_column("path")
    paths.add_row("course report (HTML)", str(final.report))
    paths.add_row("final grades (CSV for the LMS)", str(final.csv))
    paths.add_row("per-assignment grades (CSV)", str(exported.path))
    paths.add_row("feedback pages", f"{course.feedback}/<student>/<assignment>/<notebook>.html")
    paths.add_row("leaderboard (instructor)", str(board_dir / "leaderboard-instructor.html"))
    paths.add_row("leaderboard (public)", str(board_dir / "leaderboard-public.html"))
    paths.add_row("simulated students' work", str(demo_dir))
    console.print(paths)
    console.print(f"data used: {dataset.label}")
    console.print("time per stage: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
                  + f"; total {result.total:.1f} s")
    return result


def run_demo(course_dir: Path | None = None, students: int = 12, **options) -> int:
    """The CLI's entry: run :func:`demo` (``options`` go to it); 0 when the whole cycle ran, 2 with a message
    otherwise."""
    from rich.console import Console
    from rich.markup import escape

    try:
        demo(course_dir, students, **options)
    except (CourseError, ValueError) as exc:
        Console(stderr=True).print(f"[red]demo stopped:[/red] {escape(str(exc))}", soft_wrap=True)
        return 2
    return 0
