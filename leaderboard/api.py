"""The leaderboard's entry points for the CLI and for other components (I/O lives here).

For the final-grades step:

* :func:`final_results` ``(course_dir) -> {student_id: LeaderboardResult}`` reads the
  database and never changes it;
* :func:`score_course` ``(course_dir, out_dir=None) -> [LeaderboardResult]`` does what
  ``leaderboard score`` does for a course: answer key from
  ``competition/private/solution.csv``, files from ``submitted/``, reports written.

Everything here is glue: gather -> validate -> score -> store -> integrity ->
standings -> report, each step a module of its own.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from coursebase.layout import Course
from coursebase.policy import Policy, load_policy
from leaderboard.competition import CompetitionPaths, Solution, load_contract, load_solution
from leaderboard.gather import TREE, Gathered, SubmissionFile, gather
from leaderboard.integrity import integrity_flags
from leaderboard.limit import plan
from leaderboard.prepare import Competition, download_fashion_mnist, load_fashion_mnist, prepare_competition
from leaderboard.readfile import FileRead, read_submission
from leaderboard.records import Accuracy, Baseline, CsvStatus, LeaderboardError, LeaderboardResult, Submission
from leaderboard.report import ReportPaths, write_reports
from leaderboard.score import interval, score_split
from leaderboard.secret import load_secret, new_secret, pseudonym_key, read_private_secret, write_secret
from leaderboard.selection import MAX_SELECTED
from leaderboard.standings import Standings, build_standings
from leaderboard.store import Store
from leaderboard.validate import Contract, Validation, validate

__all__ = ["LeaderboardResult", "final_results", "score_course", "score", "prepare", "validate_file",
           "select", "add_baseline", "remove_baseline", "current_standings", "ScoreRun"]


@dataclass
class ScoreRun:
    """What one ``leaderboard score`` did."""
    gathered: Gathered
    new: list[Submission]                 # files recorded by this run
    unchanged: int                        # files already in the database (same student and content)
    standings: Standings
    reports: ReportPaths | None
    flags_changed: int = 0
    notes: list[str] = field(default_factory=list)

    def counts(self) -> Counter[CsvStatus]:
        return Counter(s.status for s in self.new)


def _setup(course_dir) -> tuple[Course, Policy]:
    course = Course.at(course_dir)
    return course, load_policy(course.root)


def _pseudonym_key(course: Course, policy: Policy, needed: bool = True) -> str:
    """The key of the pseudonyms, from the course secret (never from course.toml)."""
    if not (needed and policy.leaderboard.pseudonyms):
        return ""
    return pseudonym_key(load_secret(CompetitionPaths(course.competition).private))


def roster(course: Course) -> list[str]:
    """Student ids from nbgrader's gradebook (read-only), or [] when there is none."""
    path = course.gradebook_path
    if not path.exists():
        return []
    from nbgrader.api import Student
    from sqlalchemy import create_engine
    from sqlalchemy import select as sql_select
    from sqlalchemy.orm import Session

    # nbgrader's own Student model, over SQLite's read-only mode: Gradebook() would add
    # a course row to a gradebook that lacks one, and reading must not change anything.
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with Session(engine) as session:
            return sorted(session.scalars(sql_select(Student.id)).all())
    finally:
        engine.dispose()


# -- prepare ------------------------------------------------------------------------------------
def prepare(course_dir, data: str | Path | None = None, out: str | Path | None = None,
            public_fraction: float | None = None, seed: int | None = None, force: bool = False,
            timeout: float = 10.0, secret_file: str | Path | None = None,
            stand_in: tuple[int, int] | None = None) -> Competition:
    """Build ``<course>/competition`` from Fashion-MNIST in ``data`` (or a download), or, with
    ``stand_in=(n_train, n_test)``, from the labelled synthetic stand-in (leaderboard/standin.py).

    The split is keyed by the course secret (made or reused in competition/private;
    ``secret_file`` copies one in, refused when that file looks public)."""
    course, policy = _setup(course_dir)
    board = policy.leaderboard
    fraction = board.public_fraction if public_fraction is None else public_fraction
    if not 0 < fraction < 1:
        raise LeaderboardError(f"--public-fraction must be between 0 and 1 (exclusive), got {fraction}")
    target = CompetitionPaths(Path(out) if out else course.competition)
    secret = None if secret_file is None else read_private_secret(secret_file, target.public)
    if stand_in is not None:
        if data is not None:
            raise LeaderboardError("give either --data or --stand-in, not both")
        from leaderboard.standin import synthetic_fashion
        arrays = synthetic_fashion(*stand_in, seed=policy.grading_seed)
    else:
        root = Path(data) if data is not None else download_fashion_mnist(course.root / "data", timeout=timeout)
        arrays = load_fashion_mnist(root)
    return prepare_competition(target.root, *arrays, public_fraction=fraction, seed=seed, force=force,
                               secret=secret)


def rotate_secret(course_dir) -> Path:
    """A new course secret in competition/private (every pseudonym changes; the split does not)."""
    course, _ = _setup(course_dir)
    private = CompetitionPaths(course.competition).private
    if not private.is_dir():
        raise LeaderboardError(f"{private} does not exist; build the competition with `leaderboard prepare`.")
    return write_secret(private, new_secret())


# -- validate -----------------------------------------------------------------------------------
def check(read: FileRead, contract: Contract) -> Validation:
    """The verdict on a file as read from disk: its read problem, else :func:`validate`."""
    if read.problem is not None:
        return Validation((read.problem,))
    if read.data is None:           # FileRead's contract: data whenever there is no problem
        raise ValueError(f"{read.sha256}: a file read with neither data nor a problem")
    return validate(read.data, contract)


def validate_file(path: str | Path, competition: str | Path) -> Validation:
    """What a student runs before submitting: the scoring's checks, no score."""
    path = Path(path)
    if not os.path.lexists(path):
        raise LeaderboardError(f"{path} does not exist; pass the path of your submission.csv.")
    contract = load_contract(competition)
    return check(read_submission(path, contract.max_bytes), contract)


# -- score --------------------------------------------------------------------------------------
def _zone(policy: Policy) -> ZoneInfo:
    try:
        return ZoneInfo(policy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise LeaderboardError(f"course.toml: course.timezone = {policy.timezone!r} is not a known time zone; "
                               f"use a name like \"UTC\" or \"Europe/Moscow\" (the daily limit counts days "
                               f"in it).") from None


def record_new(files: list[SubmissionFile], solution: Solution, contract: Contract, policy: Policy,
               store: Store) -> tuple[list[Submission], int]:
    """Validate, score and store every file not yet in the database, within the daily limit.

    Returns (the new submissions with their ids, how many files were already known).
    Reading, validation and scoring happen first, outside any lock; which files are
    recorded and which are over the limit is decided by :func:`leaderboard.limit.plan`
    inside the store's locked transaction, so concurrent runs agree.
    """
    board = policy.leaderboard
    zone = _zone(policy)
    # Files recorded before this run and not waiting for a later day need not be read again.
    settled = {(e.student_id, e.sha256) for e in store.existing(board.assignment)
               if e.status != CsvStatus.OVER_LIMIT}
    candidates: list[Submission] = []
    valid: list[tuple[int, np.ndarray]] = []
    unchanged = 0
    for item in sorted(files, key=lambda f: (f.submitted_at, f.student_id, str(f.path))):
        read = read_submission(item.path, contract.max_bytes)
        if (item.student_id, read.sha256) in settled:
            unchanged += 1
            continue
        verdict = check(read, contract)
        note = f" (note: {item.note})" if item.note else ""
        status = CsvStatus.SCORED if verdict.ok else CsvStatus.INVALID
        message = "" if verdict.ok else verdict.message(item.path.name)
        if verdict.ok:
            valid.append((len(candidates), verdict.valid_predictions))
        candidates.append(Submission(
            id=None, student_id=item.student_id, assignment=board.assignment, submitted_at=item.submitted_at,
            sha256=read.sha256, status=status, message=message + note, source=str(item.path),
            time_source=item.time_source, predictions=verdict.predictions))
    if valid:
        public, private = score_split(np.stack([p for _, p in valid]), solution.labels, solution.public)
        for (at, _), pub, priv in zip(valid, public, private):
            sub = candidates[at]
            candidates[at] = replace(sub, public=pub, private=priv, message=(
                f"public accuracy {pub.value:.4f} (95 % CI {pub.low:.4f}-{pub.high:.4f}) on {pub.total} rows"
                + sub.message))
    decided, ids = store.record(board.assignment, lambda existing: plan(
        candidates, existing, board.daily_limit, zone, policy.timezone))
    return [_with_id(r, i) for r, i in zip(decided.new, ids)], unchanged + decided.unchanged


def _with_id(sub: Submission, new_id: int) -> Submission:
    return replace(sub, id=new_id)


def refresh_flags(store: Store, policy: Policy) -> int:
    """Recompute ``copy`` / ``implausible`` over every scored submission; returns rows changed."""
    board = policy.leaderboard
    subs = store.submissions(board.assignment, with_predictions=True)
    return store.set_flags(board.assignment, integrity_flags(subs, board.copy_agreement, board.plausibility_max))


def standings_from_store(course: Course, policy: Policy, store: Store | None, names: bool = True) -> Standings:
    """Everyone's standing; ``names`` False skips the pseudonyms (and so the secret)."""
    board = policy.leaderboard
    subs = store.submissions(board.assignment) if store else []
    baselines = store.baselines() if store else []
    return build_standings(subs, baselines, roster(course), board, _pseudonym_key(course, policy, names),
                           board.assignment, late_policy=policy.late,
                           due_for=lambda student: policy.due_for(student, board.assignment))


def default_out(course: Course) -> Path:
    return course.reports / "leaderboard"


def score(course_dir, submissions: str | Path | None = None, solution: str | Path | None = None,
          out_dir: str | Path | None = None, db_url: str | None = None, write_reports_to_disk: bool = True
          ) -> ScoreRun:
    """``leaderboard score``: record and score every new file, refresh flags, write the reports."""
    course, policy = _setup(course_dir)
    answer = load_solution(solution or CompetitionPaths(course.competition).solution)
    contract = answer.contract()
    store = Store.for_course(course.root, db_url or policy.leaderboard.url)
    try:
        store.check_answer_key(answer.sha256, answer.n_public, answer.n_private)
        if submissions is None and not course.submitted.is_dir():
            found = Gathered(TREE)          # nothing collected yet: everyone on the roster is missing
        else:
            found = gather(submissions or course.submitted, policy.leaderboard.assignment, policy.collect_pattern)
        new, unchanged = record_new(found.files, answer, contract, policy, store)
        changed = refresh_flags(store, policy)
        standings = standings_from_store(course, policy, store)
    finally:
        store.close()
    reports = None
    if write_reports_to_disk:
        reports = write_reports(standings, out_dir or default_out(course), policy.leaderboard,
                                answer.n_public, answer.n_private, policy.course_id)
    return ScoreRun(found, new, unchanged, standings, reports, changed, found.notes)


def score_course(course_dir, out_dir: str | Path | None = None) -> list[LeaderboardResult]:
    """Score a course's ``submitted/`` tree against its solution; results in instructor order."""
    run = score(course_dir, out_dir=out_dir)
    return [s.result() for s in run.standings.students]


# -- read-only views ----------------------------------------------------------------------------
def current_standings(course_dir, db_url: str | None = None, names: bool = True
                      ) -> tuple[Standings, tuple[int, int] | None]:
    """Standings from the database as it is (read-only), and (public rows, private rows)."""
    course, policy = _setup(course_dir)
    store = Store.for_course(course.root, db_url or policy.leaderboard.url, read_only=True)
    try:
        return standings_from_store(course, policy, store, names), (store.answer_key() if store else None)
    finally:
        if store:
            store.close()


def final_results(course_dir) -> dict[str, LeaderboardResult]:
    """student_id -> :class:`LeaderboardResult` for every student on the roster or with a file.

    Uses each student's selected submissions (else their best public score), reads the
    database without changing it, and needs no answer key. A course never scored gives
    every roster student ``missing``.
    """
    return current_standings(course_dir, names=False)[0].results()


# -- instructor actions -------------------------------------------------------------------------
def select(course_dir, student_id: str, submission_ids: list[int], db_url: str | None = None
           ) -> list[Submission]:
    """Make ``submission_ids`` the student's final choice (at most MAX_SELECTED, scored, theirs)."""
    if len(set(submission_ids)) > MAX_SELECTED:
        raise LeaderboardError(f"at most {MAX_SELECTED} submissions can be selected (Kaggle's rule); "
                               f"got {len(set(submission_ids))}.")
    course, policy = _setup(course_dir)
    url = db_url or policy.leaderboard.url
    existing = Store.for_course(course.root, url, read_only=True)
    if existing is None:
        raise LeaderboardError("nothing has been scored yet; run `leaderboard score` first.")
    existing.close()
    store = Store.for_course(course.root, url)
    try:
        return store.select(student_id, policy.leaderboard.assignment, sorted(set(submission_ids)))
    finally:
        store.close()


def student_submissions(course_dir, student_id: str, db_url: str | None = None) -> list[Submission]:
    course, policy = _setup(course_dir)
    store = Store.for_course(course.root, db_url or policy.leaderboard.url, read_only=True)
    if store is None:
        return []
    try:
        return store.submissions(policy.leaderboard.assignment, student_id=student_id)
    finally:
        store.close()


def _accuracy_of(value: float, total: int, label: str) -> Accuracy:
    if not 0 <= value <= 1:
        raise LeaderboardError(f"the {label} accuracy must be between 0 and 1, got {value}")
    correct = int(round(value * total))
    low, high = interval(correct, total)
    return Accuracy(correct, total, low, high)


def add_baseline(course_dir, name: str, csv_path: str | Path | None = None, public: float | None = None,
                 private: float | None = None, solution: str | Path | None = None,
                 db_url: str | None = None) -> Baseline:
    """Add (or replace) a baseline row, scored from a CSV or given as two accuracies."""
    course, policy = _setup(course_dir)
    answer = load_solution(solution or CompetitionPaths(course.competition).solution)
    if csv_path is not None:
        path = Path(csv_path)
        if not path.is_file():
            raise LeaderboardError(f"{path} does not exist; pass the baseline model's submission CSV.")
        contract = answer.contract()
        verdict = check(read_submission(path, contract.max_bytes), contract)
        if not verdict.ok:
            raise LeaderboardError(verdict.message(Path(csv_path).name))
        (pub,), (priv,) = score_split(verdict.valid_predictions, answer.labels, answer.public)
    elif public is not None and private is not None:
        pub = _accuracy_of(public, answer.n_public, "public")
        priv = _accuracy_of(private, answer.n_private, "private")
    else:
        raise LeaderboardError("give a baseline either --csv FILE or both --public and --private accuracies.")
    store = Store.for_course(course.root, db_url or policy.leaderboard.url)
    try:
        store.check_answer_key(answer.sha256, answer.n_public, answer.n_private)
        return store.put_baseline(name, pub, priv)
    finally:
        store.close()


def remove_baseline(course_dir, name: str, db_url: str | None = None) -> bool:
    course, policy = _setup(course_dir)
    store = Store.for_course(course.root, db_url or policy.leaderboard.url)
    try:
        return store.remove_baseline(name)
    finally:
        store.close()
