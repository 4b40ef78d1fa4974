"""`autograder grade`: plan the batch, run it (locally or on Dask), store every result.

The coordinator is the only writer of the gradebook and of the records. A
submission is stored in one gradebook transaction, then its record is
appended; a kill at any moment leaves either both or neither's effect visible
to the next run, which grades exactly what has no record for the current
submission and tests.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from autograder.engine import sandbox
from autograder.engine.executor import Job
from autograder.engine.grading_kit import Kit
from autograder.engine.results import CellKind, CellResult, RunResult
from autograder.export import foreign_scores, grades_by_submission
from autograder.gradebook import open_gradebook, refresh_lateness, write_result
from autograder.kits import current_kit, kit_path
from autograder.records import load_latest_records
from coursebase.files import write_atomic
from coursebase.late import describe as describe_lateness
from coursebase.late import price_lateness
from coursebase.layout import Course, CourseError
from coursebase.policy import Policy, load_policy
from coursebase.submission import UPLOADED_TIMESTAMP_DETAIL, content_hash, has_uploaded_timestamp, time_of
from coursebase.vocabulary import REVIEW_FLAGS, Flag, Status

if TYPE_CHECKING:
    from autograder.engine.forkserver import ForkServer

console = Console(stderr=True)


@dataclass
class Submission:
    student_id: str
    folder: Path
    hash: str


@dataclass
class BatchSummary:
    graded: list[RunResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # up to date
    sandbox: str = "namespaces"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.graded:
            out[r.status.value] = out.get(r.status.value, 0) + 1
        return out


def find_submissions(course: Course, assignment: str, students: list[str] | None = None) -> list[Submission]:
    if not course.submitted.is_dir():
        return []
    found = []
    for student_dir in sorted(course.submitted.iterdir()):
        if not student_dir.is_dir() or student_dir.name.startswith("."):
            continue
        if students and student_dir.name not in students:
            continue
        folder = student_dir / assignment
        if folder.is_dir():
            found.append(Submission(student_dir.name, folder, content_hash(folder)))
    return found


def make_job(course: Course, policy: Policy, kit: Kit, kit_file: Path, sub: Submission, spool: Path,
             sandboxed: bool, timeout: float | None) -> Job:
    limits = policy.limits
    data_dir = course.competition_public if course.competition_public.is_dir() else None
    release_dir = course.release / kit.assignment
    if data_dir is None and kit.data_files:
        data_dir = release_dir / "data" if (release_dir / "data").is_dir() else None
    result_path = spool / f"{sub.student_id}.json"
    for suffix in ("", ".cells", ".error", ".tmp"):
        Path(str(result_path) + suffix).unlink(missing_ok=True)
    return Job(
        job_id=f"{kit.assignment}/{sub.student_id}", student_id=sub.student_id, assignment=kit.assignment,
        submission_dir=str(sub.folder), notebook=kit.notebook, kit_path=str(kit_file), result_path=str(result_path),
        seed=policy.grading_seed, limits=replace(limits, notebook_timeout=timeout or limits.notebook_timeout),
        sandboxed=sandboxed, data_dir=str(data_dir) if data_dir else None,
        hide=[str(course.root)], skip_files=[Path(f).name for f in kit.data_files],
    )


def finish_result(result: RunResult, kit: Kit, sub: Submission, policy: Policy, sandboxed: bool) -> RunResult:
    """Every graded cell of the kit gets a result (0, not run, for the ones the run never reached)."""
    have = {c.grade_id for c in result.cells}
    for cell in kit.cells:
        if cell.grade and cell.grade_id not in have:
            result.cells.append(CellResult(cell.grade_id, cell.points or 0.0, 0.0, ran=False, error="not run",
                                           kind=CellKind.MANUAL if cell.is_manual else CellKind.TEST))
    order = {c.grade_id: i for i, c in enumerate(kit.cells)}
    result.cells.sort(key=lambda c: order.get(c.grade_id, 10**6))
    result.sandbox = "namespaces" if sandboxed else "none"
    if not sandboxed:
        result.flags.setdefault(Flag.UNSANDBOXED, "graded without isolation (--unsandboxed)")
    if has_uploaded_timestamp(sub.folder):
        # a student's own timestamp.txt: kept by collect, never the time (which came from the LMS or the file)
        attack = result.flags.get(Flag.ATTACK)
        result.flags[Flag.ATTACK] = f"{attack}; {UPLOADED_TIMESTAMP_DETAIL}" if attack else UPLOADED_TIMESTAMP_DETAIL
    submitted_at = time_of(sub.folder)
    due = policy.due_for(sub.student_id, kit.assignment)
    if submitted_at is not None and due is not None:
        lateness = price_lateness(submitted_at, due, policy.late, kit.max_score, result.score)
        if lateness.late:
            result.flags[Flag.LATE] = describe_lateness(lateness, due)
    result.audit.update({"submission_hash": sub.hash, "tests_hash": kit.tests_hash, "seed": policy.grading_seed,
                         "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return result


def store(course: Course, gb, result: RunResult, kit: Kit, sub: Submission, policy: Policy | None = None) -> None:
    """Gradebook (one transaction), then the autograded notebook, then the record: a kill between them
    leaves no record, so the next run grades the submission again."""
    from autograder.autograded import unanswered, write_autograded  # nbformat: only when something was graded
    write_result(gb, result, Path(kit.notebook).stem, time_of(sub.folder), policy=policy,
                 unanswered=unanswered(result, kit))
    write_autograded(course.autograded, result, kit, course.release / kit.assignment / kit.notebook)
    course.records.parent.mkdir(parents=True, exist_ok=True)
    with course.records.open("a", encoding="utf-8") as fh:
        fh.write(result.dumps() + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def gradebook_files(course: Course) -> list:
    """Size and modification time of the gradebook's files (SQLite's journal and WAL included)."""
    out: list[list[str | int | None]] = []
    for suffix in ("", "-journal", "-wal"):
        try:
            info = os.stat(f"{course.gradebook_path}{suffix}")
            out.append([suffix, info.st_size, info.st_mtime_ns])
        except OSError:
            out.append([suffix, None, None])
    return out


def _gradebook_stamp_path(course: Course, assignment: str) -> Path:
    return course.state / "kits" / f"{assignment}.gradebook-stamp"


def saved_gradebook_files(course: Course, assignment: str) -> list | None:
    try:
        return json.loads(_gradebook_stamp_path(course, assignment).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save_gradebook_files(course: Course, assignment: str) -> None:
    """After a run's own gradebook writes: the next run of this assignment reads the gradebook for scores
    we did not write only if its files changed since (nbgrader, the formgrader, a hand edit)."""
    path = _gradebook_stamp_path(course, assignment)
    write_atomic(path, json.dumps(gradebook_files(course)))


def needs_grading(record: RunResult | None, sub: Submission, kit: Kit,
                  gradebook_grades: dict[tuple[str, str], tuple] | None = None) -> bool:
    """No record, changed files or tests, or gradebook auto scores we did not write (see export.foreign_scores)."""
    if record is None:
        return True
    if record.audit.get("submission_hash") != sub.hash or record.audit.get("tests_hash") != kit.tests_hash:
        return True
    notebook = Path(kit.notebook).stem
    cells = [(notebook, c.grade_id, c.points or 0.0) for c in kit.cells if c.grade]
    return bool(foreign_scores(record, gradebook_grades, cells))


def grade(course: Course, assignments: list[str] | str | None = None, students: list[str] | None = None,
          workers: int | None = None, timeout: float | None = None, force: bool = False, unsandboxed: bool = False,
          scheduler: str | None = None, quiet: bool = False, full: bool = False) -> int:
    """Grade every (or the named) submission of the named assignments (None: all of them) in one run.

    Returns the exit code: 0 when everything graded this run is plainly graded, 1 when a submission needs a
    person (not ``graded``, or flagged ``attack``/``tampered``), 3 when the machine refuses the sandbox."""
    summaries = grade_many(course, assignments, students=students, workers=workers, timeout=timeout, force=force,
                           unsandboxed=unsandboxed, scheduler=scheduler, quiet=quiet)
    if summaries is None:
        return 3
    needs_review = False
    for summary in summaries.values():
        if not quiet and summary.graded:
            print_summary(summary, full=full)
        needs_review |= any(r.status != Status.GRADED or any(f in r.flags for f in REVIEW_FLAGS)
                            for r in summary.graded)
    return 1 if needs_review else 0


class WarmServer:
    """The one warm fork server of a command: started by the first job that needs it (a run with nothing to
    grade starts none), shared by every batch of the command, closed once by :meth:`close`. Thread-safe."""

    def __init__(self, policy: Policy):
        self._preimport = list(policy.sandbox.preimport)
        self._seed = policy.grading_seed
        self._server: ForkServer | None = None
        self._failed: BaseException | None = None
        self._lock = threading.Lock()
        self.starts = 0   # how many warm parents this command started: 0 or 1

    @property
    def started(self) -> bool:
        return self._server is not None

    def run(self, job: Job) -> int | None:
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if self._server is None:
                from autograder.engine.forkserver import ForkServer

                try:
                    self.starts += 1
                    self._server = ForkServer(self._preimport, self._seed)
                except BaseException as exc:
                    self._failed = exc
                    raise
        return self._server.run(job)

    def close(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.close()


def grade_many(course: Course, assignments: list[str] | str | None = None, students: list[str] | None = None,
               workers: int | None = None, timeout: float | None = None, force: bool = False,
               unsandboxed: bool = False, scheduler: str | None = None, quiet: bool = False,
               server=None) -> dict[str, BatchSummary] | None:
    """Grade several assignments (None: every assignment in source/) in one run over one warm fork server.

    Unknown names are refused before anything runs. ``server``: a resident server to reuse and leave running;
    else one :class:`WarmServer` serves the whole run and is started only if something needs grading.
    None when the sandbox is refused (the message is printed); the batches graded before that are stored."""
    known = course.assignments()
    if assignments is None:
        assignments = list(known)
    elif isinstance(assignments, str):
        assignments = [assignments]
    unknown = [a for a in assignments if a not in known]
    if unknown:
        raise CourseError(f"there is no assignment {', '.join(repr(a) for a in unknown)} in {course.source}; "
                          f"known: {', '.join(known) or 'none'}")
    owned = server is None
    if owned:
        server = WarmServer(load_policy(course.root))
    try:
        summaries: dict[str, BatchSummary] = {}
        for assignment in dict.fromkeys(assignments):
            summary = grade_batch(course, assignment, students=students, workers=workers, timeout=timeout,
                                  force=force, unsandboxed=unsandboxed, scheduler=scheduler, quiet=quiet,
                                  server=server)
            if summary is None:
                return None
            summaries[assignment] = summary
        return summaries
    finally:
        if owned:
            server.close()


def grade_batch(course: Course, assignment: str, students: list[str] | None = None, workers: int | None = None,
                timeout: float | None = None, force: bool = False, unsandboxed: bool = False,
                scheduler: str | None = None, quiet: bool = False, server=None) -> BatchSummary | None:
    """Grade what needs grading; ``server``: a resident warm fork server to reuse (the portal's
    worker keeps one), else one is started and closed for this batch."""
    policy = load_policy(course.root)
    if assignment not in course.assignments():
        raise CourseError(f"there is no assignment '{assignment}' in {course.source}; "
                          f"known: {', '.join(course.assignments()) or 'none'}")
    kit = current_kit(course, assignment)
    subs = find_submissions(course, assignment, students)
    if students:
        unknown = sorted(set(students) - {s.student_id for s in subs})
        for sid in unknown:
            console.print(f"[yellow]note:[/yellow] {sid} has no submission of {assignment} in {course.submitted}")
    latest = load_latest_records(course.records)
    in_gradebook: dict = {}
    # has anything but us written the gradebook since our last run? (its files' sizes and times)
    foreign_write = gradebook_files(course) != saved_gradebook_files(course, assignment)
    if subs and foreign_write and course.gradebook_path.exists():
        # scores in the gradebook that we did not write (nbgrader's own autograde, a hand edit) force a regrade
        with open_gradebook(course.db_url) as gb:
            in_gradebook = grades_by_submission(gb, assignment)
    summary = BatchSummary()
    todo = []
    for sub in subs:
        if force or needs_grading(latest.get((sub.student_id, assignment)), sub, kit,
                                  in_gradebook.get(sub.student_id)):
            todo.append(sub)
        else:
            summary.skipped.append(sub.student_id)
    if summary.skipped and foreign_write:   # a hand grade may have moved a capped late penalty
        with open_gradebook(course.db_url) as gb:
            refresh_lateness(gb, policy, assignment, Path(kit.notebook).stem,
                             {sub.student_id: time_of(sub.folder) for sub in subs
                              if sub.student_id in summary.skipped})
    if not todo:
        if not quiet:
            console.print(f"{assignment}: all {len(subs)} submissions are up to date (use --force to regrade)")
        save_gradebook_files(course, assignment)
        return summary
    # only now, with work to do: the sandbox probe, the kit file and (in run_locally) the warm parent
    sandboxed = True
    if scheduler is None:
        reason = sandbox.probe()
        if reason is not None:
            if not unsandboxed:
                console.print(f"[red]error:[/red] this machine refuses the sandbox: {reason}.\n"
                              "Grading untrusted code without isolation is unsafe. Run on a machine that allows "
                              "user or root namespaces, or pass --unsandboxed to grade anyway "
                              "(every record will say sandbox: none).")
                return None
            console.print(f"[yellow]warning:[/yellow] grading WITHOUT a sandbox ({reason}); records say sandbox: none")
            sandboxed = False
    elif unsandboxed:
        sandboxed = False
    summary.sandbox = "namespaces" if sandboxed else "none"
    kit_file = kit.save(kit_path(course, assignment))
    spool = course.state / "spool" / assignment
    spool.mkdir(parents=True, exist_ok=True)
    jobs = {sub.student_id: make_job(course, policy, kit, kit_file, sub, spool, sandboxed, timeout) for sub in todo}
    by_id = {sub.student_id: sub for sub in todo}
    n_workers = workers or policy.limits.effective_workers
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[state]}"), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=console, disable=quiet, transient=False)
    counts = {"done": 0, "failed": 0}
    with open_gradebook(course.db_url) as gb, progress:
        task = progress.add_task(f"grading {assignment}", total=len(todo),
                                 state=f"0 done, 0 not graded, {len(todo)} left")

        def on_result(result: RunResult) -> None:
            sub = by_id[result.student_id]
            result = finish_result(result, kit, sub, policy, sandboxed)
            store(course, gb, result, kit, sub, policy)
            summary.graded.append(result)
            counts["done" if result.status == Status.GRADED else "failed"] += 1
            left = len(todo) - counts["done"] - counts["failed"]
            progress.update(task, advance=1,
                            state=f"{counts['done']} done, {counts['failed']} not graded, {left} left")

        if scheduler:
            from autograder.engine.cluster import run_on_cluster

            run_on_cluster(scheduler, list(jobs.values()), on_result, list(policy.sandbox.preimport))
        else:
            run_locally(policy, list(jobs.values()), n_workers, on_result, server=server)
    shutil.rmtree(spool, ignore_errors=True)
    save_gradebook_files(course, assignment)
    return summary


def run_locally(policy: Policy, jobs: list[Job], n_workers: int, on_result, server=None) -> None:
    """Run jobs on this machine's warm fork server, ``n_workers`` at a time; results in completion order.

    A ``server`` given by the caller is used and left running; otherwise one is started and closed."""
    from autograder.engine.forkserver import ForkServer, collect_result

    owned = server is None
    if owned:
        server = ForkServer(list(policy.sandbox.preimport), policy.grading_seed)
    try:
        with ThreadPoolExecutor(max_workers=max(1, n_workers)) as pool:
            futures = {pool.submit(server.run, job): job for job in jobs}
            for future in as_completed(futures):
                job = futures[future]
                on_result(collect_result(job, future.result()))  # on this thread only
    finally:
        if owned:
            server.close()


def print_summary(summary: BatchSummary, full: bool = False) -> None:
    table = Table(title=f"graded {len(summary.graded)}, up to date {len(summary.skipped)} (sandbox: {summary.sandbox})")
    for column in ("student", "status", "score", "flags", "message"):
        table.add_column(column)
    for r in sorted(summary.graded, key=lambda r: r.student_id):
        table.add_row(r.student_id, r.status.value, f"{r.score:g}/{r.max_score:g}", ", ".join(sorted(r.flags)),
                      (r.message or "") if full else (r.message or "")[:80])
    Console().print(table)
