"""Everyone's standing (pure): final submission, status, ranks, points, flags, message.

Two views come out of the same data:
* the public view ranks each student's best public score under a pseudonym (or
  the id, when course.toml turns pseudonyms off) and never contains a private
  number or anything ordered by one;
* the instructor view ranks the submission that counts (selected, else best
  public) by private accuracy; this is the one grades come from.
Ties go to the earlier submission; baselines are shown but take no rank.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from coursebase.late import describe, price_lateness
from coursebase.vocabulary import Flag
from leaderboard.points import grade
from leaderboard.pseudonym import pseudonyms
from leaderboard.rank import Entry, rank_entries
from leaderboard.records import Accuracy, Baseline, CsvStatus, LeaderboardResult, Submission
from leaderboard.selection import best_public, final_submission


@dataclass(frozen=True)
class StudentStanding:
    student_id: str
    pseudonym: str
    status: CsvStatus
    final: Submission | None          # the submission that counts
    chosen_by: str
    best_public: Submission | None
    latest: Submission | None
    submissions: int                  # files recorded for this student
    rank: int | None                  # instructor (private) rank
    public_rank: int | None
    points: float
    max_points: float
    flags: tuple[Flag, ...]
    message: str

    @property
    def counted(self) -> Submission:
        """The submission that counts, for a student who has one (every ranked student does)."""
        if self.final is None:
            raise ValueError(f"{self.student_id} ({self.status}) has no submission that counts")
        return self.final

    @property
    def best_public_score(self) -> Accuracy:
        """The best public accuracy, for a student on the public board (who has a scored file)."""
        if self.best_public is None:
            raise ValueError(f"{self.student_id} ({self.status}) has no scored submission on the public board")
        return self.best_public.public_score

    def result(self) -> LeaderboardResult:
        return LeaderboardResult(
            student_id=self.student_id, status=self.status,
            private_accuracy=self.final.private_accuracy if self.final else None,
            public_accuracy=self.final.public_accuracy if self.final else None,
            points=self.points, max_points=self.max_points, flags=list(self.flags), message=self.message,
            rank=self.rank, submission_id=self.final.id if self.final else None)


@dataclass(frozen=True)
class BoardRow:
    """One line of a leaderboard view: a student or a baseline."""
    rank: int | None
    name: str
    accuracy: Accuracy
    baseline: bool = False
    standing: StudentStanding | None = None      # instructor view only
    submitted_at: dt.datetime | None = None
    entries: int = 0                             # scored files of the student (the public "entries")

    @property
    def student(self) -> StudentStanding:
        """The standing behind a student row of the instructor view (a baseline row has none)."""
        if self.standing is None:
            raise ValueError(f"leaderboard row {self.name!r} is a baseline, not a student")
        return self.standing


@dataclass(frozen=True)
class Standings:
    students: list[StudentStanding]            # instructor order: ranked first, then the rest by id
    public: list[BoardRow]
    instructor: list[BoardRow]
    baselines: list[Baseline] = field(default_factory=list)
    assignment: str = ""

    def results(self) -> dict[str, LeaderboardResult]:
        return {s.student_id: s.result() for s in self.students}


def _when(sub: Submission) -> str:
    return f"{sub.submitted_at:%Y-%m-%d %H:%M} UTC"


def _ci(acc: Accuracy) -> str:
    return f"{acc.value:.4f} (95 % CI {acc.low:.4f}-{acc.high:.4f})"


def _message(status: CsvStatus, final: Submission | None, chosen_by: str, latest: Submission | None,
             assignment: str) -> str:
    if status == CsvStatus.MISSING:
        return f"no submission.csv for {assignment} was found."
    if final is None:
        assert latest is not None
        return f"no scored submission; the latest file (#{latest.id}, {_when(latest)}) is {latest.status}: " \
               f"{latest.message}"
    parts = [f"private accuracy {_ci(final.private_score)} from submission #{final.id} of {_when(final)}, "
             f"{chosen_by}."]
    if final.flags:
        parts.append(f"Flagged for review: {final.flag_detail}.")
    if latest is not None and latest is not final and latest.status != CsvStatus.SCORED \
            and latest.submitted_at > final.submitted_at:
        parts.append(f"The latest file (#{latest.id}, {_when(latest)}) is {latest.status} and does not "
                     f"count: {latest.message}")
    return " ".join(parts)


def build_standings(submissions: list[Submission], baselines: list[Baseline], roster: list[str],
                    policy, secret: str, assignment: str = "", late_policy=None, due_for=None) -> Standings:
    """Standings from every recorded submission of one assignment.

    ``roster`` lists students who must appear even without a file (they get
    ``missing``); students who submitted but are not on it appear too.
    ``policy`` is the course's LeaderboardPolicy. With ``late_policy`` (course.toml
    ``[late_policy]``) and ``due_for(student) -> deadline or None``, the file that
    counts is priced like any late work (:func:`coursebase.late.price_lateness` on
    the leaderboard points): flagged ``late``, its penalty taken off the points.
    """
    by_student: dict[str, list[Submission]] = {s: [] for s in roster}
    for sub in submissions:
        by_student.setdefault(sub.student_id, []).append(sub)
    names = pseudonyms(by_student, secret) if policy.pseudonyms else {s: s for s in by_student}

    picked = {}
    for student, subs in by_student.items():
        subs.sort(key=lambda s: (s.submitted_at, s.id or 0))
        final, chosen_by = final_submission(subs)
        picked[student] = (final, chosen_by, best_public(subs), subs[-1] if subs else None)

    private_order = rank_entries(
        [Entry(s, f.private_score.value, f.submitted_at) for s, (f, _, _, _) in picked.items() if f] +
        [Entry(b.name, b.private.value, b.created_at, baseline=True) for b in baselines])
    public_order = rank_entries(
        [Entry(s, bp.public_score.value, bp.submitted_at) for s, (_, _, bp, _) in picked.items() if bp] +
        [Entry(b.name, b.public.value, b.created_at, baseline=True) for b in baselines])
    private_rank = {r.entry.key: r.rank for r in private_order if not r.entry.baseline}
    public_rank = {r.entry.key: r.rank for r in public_order if not r.entry.baseline}

    standings: dict[str, StudentStanding] = {}
    for student, (final, chosen_by, best, latest) in picked.items():
        if final is not None:
            status = CsvStatus.SCORED
        elif latest is None:
            status = CsvStatus.MISSING
        else:
            status = latest.status
        rank = private_rank.get(student)
        points = grade(final.private_score.value if final else None, rank, policy)
        flags = final.flags if final else ()
        message = _message(status, final, chosen_by, latest, assignment)
        due = due_for(student) if (due_for and late_policy and final) else None
        if final is not None and due is not None:
            lateness = price_lateness(final.submitted_at, due, late_policy, float(policy.max_points), points)
            if lateness.late:
                points = round(points - lateness.penalty, 6)
                flags = tuple(flags) + (Flag.LATE,)
                message += f" Late: {describe(lateness, due)} ({late_policy.kind} late policy)."
        standings[student] = StudentStanding(
            student_id=student, pseudonym=names[student], status=status, final=final, chosen_by=chosen_by,
            best_public=best, latest=latest, submissions=len(by_student[student]), rank=rank,
            public_rank=public_rank.get(student),
            points=points, max_points=float(policy.max_points), flags=flags, message=message)

    baseline_by_name = {b.name: b for b in baselines}
    scored = {student: sum(1 for sub in subs if sub.status == CsvStatus.SCORED) for student, subs in by_student.items()}
    instructor = [BoardRow(r.rank, r.entry.key,
                           baseline_by_name[r.entry.key].private if r.entry.baseline
                           else standings[r.entry.key].counted.private_score,
                           r.entry.baseline, None if r.entry.baseline else standings[r.entry.key],
                           r.entry.submitted_at,
                           0 if r.entry.baseline else standings[r.entry.key].submissions)
                  for r in private_order]
    public = [BoardRow(r.rank, r.entry.key if r.entry.baseline else names[r.entry.key],
                       baseline_by_name[r.entry.key].public if r.entry.baseline
                       else standings[r.entry.key].best_public_score,
                       r.entry.baseline, None, r.entry.submitted_at,
                       0 if r.entry.baseline else scored[r.entry.key])
              for r in public_order]
    ordered = [standings[r.entry.key] for r in private_order if not r.entry.baseline]
    ordered += sorted((s for s in standings.values() if s.rank is None), key=lambda s: s.student_id)
    return Standings(ordered, public, instructor, list(baselines), assignment)
