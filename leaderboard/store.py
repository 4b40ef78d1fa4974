"""The leaderboard's database: every recorded submission, baselines, and the answer key's hash.

Any SQLAlchemy URL works (course.toml ``[leaderboard] url``); the default is an
SQLite file in the course directory. A relative SQLite path is resolved against
the course directory, not the current directory, so every command finds the same
file. Rows are converted to the plain :mod:`leaderboard.records` dataclasses at
this edge; nothing else in the package touches SQLAlchemy.

Concurrency: every writing transaction holds the database's write lock from its
first statement (SQLite: ``BEGIN IMMEDIATE``, waiting up to ``BUSY_SECONDS`` for
another writer; PostgreSQL: ``LOCK TABLE ... SHARE ROW EXCLUSIVE``). The daily
limit and deduplication are decided inside that transaction (:meth:`Store.record`
with :func:`leaderboard.limit.plan`), the answer key is a single row with a fixed
primary key, and (student, assignment, hash) is unique. So several
``leaderboard score`` processes at once give the same rows as one; a constraint
that still fires becomes a :class:`LeaderboardError`, never a raw IntegrityError.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, overload

import numpy as np
from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, defer, mapped_column, sessionmaker

from coursebase.vocabulary import Flag
from leaderboard.limit import Existing, Plan
from leaderboard.records import Accuracy, Baseline, CsvStatus, LeaderboardError, Submission

BUSY_SECONDS = 120.0
ANSWER_KEY_ID = 1        # the answer key is one row; a second writer hits the primary key


class UTCDateTime(TypeDecorator):
    """Stores naive UTC (SQLite has no zones), always hands back aware UTC datetimes."""
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime reached the store; times must carry a zone")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class SubmissionRow(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("student_id", "assignment", "sha256", name="one_row_per_file"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(200), index=True)
    assignment: Mapped[str] = mapped_column(String(200), index=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    time_source: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    public_correct: Mapped[int | None] = mapped_column(Integer, nullable=True)
    public_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    public_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    public_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    public_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    private_correct: Mapped[int | None] = mapped_column(Integer, nullable=True)
    private_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    private_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    private_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    private_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    predictions: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    selected: Mapped[bool] = mapped_column(Boolean, default=False)
    flags: Mapped[str] = mapped_column(String(200), default="")
    flag_detail: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class BaselineRow(Base):
    __tablename__ = "baselines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    public_correct: Mapped[int] = mapped_column(Integer)
    public_total: Mapped[int] = mapped_column(Integer)
    public_low: Mapped[float] = mapped_column(Float)
    public_high: Mapped[float] = mapped_column(Float)
    private_correct: Mapped[int] = mapped_column(Integer)
    private_total: Mapped[int] = mapped_column(Integer)
    private_low: Mapped[float] = mapped_column(Float)
    private_high: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AnswerKeyRow(Base):
    """The solution every stored score was computed against (one row)."""
    __tablename__ = "answer_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    n_public: Mapped[int] = mapped_column(Integer)
    n_private: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def _immediate_transactions(engine: Engine) -> None:
    """SQLite: every transaction takes the write lock at BEGIN (pysqlite's own BEGIN is deferred)."""
    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def resolve_url(url: str, course_dir: str | Path) -> str:
    """``url`` with a relative SQLite file made absolute inside ``course_dir``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:") \
                and not Path(database).is_absolute():
            return parsed.set(database=str((Path(course_dir) / database).resolve())).render_as_string(
                hide_password=False)
    return url


def _accuracy(correct, total, low, high) -> Accuracy | None:
    return None if correct is None else Accuracy(int(correct), int(total), float(low), float(high))


def _to_record(row: SubmissionRow, with_predictions: bool) -> Submission:
    predictions = None
    if with_predictions and row.predictions is not None:
        predictions = np.frombuffer(row.predictions, dtype=np.int8)
    return Submission(
        id=row.id, student_id=row.student_id, assignment=row.assignment, submitted_at=row.submitted_at,
        sha256=row.sha256, status=CsvStatus(row.status), message=row.message, source=row.source,
        time_source=row.time_source,
        public=_accuracy(row.public_correct, row.public_total, row.public_low, row.public_high),
        private=_accuracy(row.private_correct, row.private_total, row.private_low, row.private_high),
        selected=bool(row.selected), flags=tuple(Flag(f) for f in row.flags.split(",") if f),
        flag_detail=row.flag_detail, predictions=predictions)


def _to_row(sub: Submission, now: dt.datetime) -> SubmissionRow:
    pub, priv = sub.public, sub.private
    return SubmissionRow(
        student_id=sub.student_id, assignment=sub.assignment, submitted_at=sub.submitted_at,
        time_source=sub.time_source, sha256=sub.sha256, source=sub.source, status=sub.status.value,
        message=sub.message,
        public_correct=pub.correct if pub else None, public_total=pub.total if pub else None,
        public_accuracy=pub.value if pub else None, public_low=pub.low if pub else None,
        public_high=pub.high if pub else None,
        private_correct=priv.correct if priv else None, private_total=priv.total if priv else None,
        private_accuracy=priv.value if priv else None, private_low=priv.low if priv else None,
        private_high=priv.high if priv else None,
        predictions=None if sub.predictions is None else np.asarray(sub.predictions, np.int8).tobytes(),
        selected=sub.selected, flags=",".join(sub.flags), flag_detail=sub.flag_detail, recorded_at=now)


class Store:
    """One leaderboard database. ``read_only`` never creates or changes anything."""

    def __init__(self, url: str, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        self.backend = make_url(url).get_backend_name()
        if self.backend == "sqlite":
            self.engine: Engine = create_engine(url, future=True, connect_args={"timeout": BUSY_SECONDS})
            if not read_only:
                _immediate_transactions(self.engine)
        else:
            self.engine = create_engine(url, future=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, future=True)
        if not read_only:
            self._create_tables()
        self._has_tables = read_only is False or inspect(self.engine).has_table(SubmissionRow.__tablename__)

    @overload
    @classmethod
    def for_course(cls, course_dir: str | Path, url: str, read_only: Literal[False] = False) -> Store: ...

    @overload
    @classmethod
    def for_course(cls, course_dir: str | Path, url: str, read_only: bool) -> Store | None: ...

    @classmethod
    def for_course(cls, course_dir: str | Path, url: str, read_only: bool = False) -> Store | None:
        """The course's store; with ``read_only``, None when an SQLite file does not exist yet."""
        resolved = resolve_url(url, course_dir)
        parsed = make_url(resolved)
        if read_only and parsed.get_backend_name() == "sqlite" and parsed.database \
                and parsed.database != ":memory:":
            path = Path(parsed.database)
            if not path.exists():
                return None
            # SQLite's own read-only mode: even a bug here cannot write to the file.
            resolved = f"sqlite:///file:{path}?mode=ro&uri=true"
        return cls(resolved, read_only=read_only)

    def _create_tables(self) -> None:
        # Two first runs at once may both find a table missing; the loser's CREATE fails and
        # a second pass (checkfirst) sees the winner's tables.
        for attempt in range(3):
            try:
                Base.metadata.create_all(self.engine)
                return
            except (OperationalError, ProgrammingError, IntegrityError):
                if attempt == 2:
                    raise

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self, lock: bool = False) -> Iterator[Session]:
        """A transaction; with ``lock`` (PostgreSQL) it takes the submissions table's write lock first.
        SQLite write transactions always begin IMMEDIATE (the whole file is locked)."""
        try:
            with self._sessions() as session:
                if lock and self.backend == "postgresql":
                    session.execute(text(f"LOCK TABLE {SubmissionRow.__tablename__}, "
                                         f"{AnswerKeyRow.__tablename__} IN SHARE ROW EXCLUSIVE MODE"))
                yield session
                if not self.read_only:
                    session.commit()
        except IntegrityError as exc:
            raise LeaderboardError(f"the database {make_url(self.url).render_as_string(hide_password=True)} refused "
                                   f"a row that another run wrote at the same time "
                                   f"({type(exc.orig).__name__}); run the command again.") from None
        except OperationalError as exc:
            if "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower():
                raise LeaderboardError(f"the database stayed locked by another run for {BUSY_SECONDS:g} s; "
                                       f"run the command again when it has finished.") from None
            raise

    # -- the answer key -------------------------------------------------------------------------
    def check_answer_key(self, sha256: str, n_public: int, n_private: int) -> None:
        """Record the solution's hash on first use; refuse a different one later.

        Scores computed against two different answer keys must never be mixed.
        """
        with self.session(lock=True) as session:
            row = session.scalars(select(AnswerKeyRow)).first()
            if row is None:
                session.add(AnswerKeyRow(id=ANSWER_KEY_ID, sha256=sha256, n_public=n_public, n_private=n_private,
                                         recorded_at=dt.datetime.now(dt.timezone.utc)))
            elif row.sha256 != sha256:
                raise LeaderboardError(
                    f"the database {self.url} holds scores computed against a different solution.csv "
                    f"(recorded {row.recorded_at:%Y-%m-%d %H:%M} UTC). Use the original solution.csv, or "
                    f"start a new database (set [leaderboard] url in course.toml) for the new competition.")

    def answer_key(self) -> tuple[int, int] | None:
        """(public rows, private rows) of the recorded answer key, or None before the first score."""
        if not self._has_tables:
            return None
        with self.session() as session:
            row = session.scalars(select(AnswerKeyRow)).first()
            return None if row is None else (row.n_public, row.n_private)

    # -- submissions ----------------------------------------------------------------------------
    def known_files(self, assignment: str) -> set[tuple[str, str]]:
        """(student_id, sha256) of every recorded file: those are never scored again."""
        if not self._has_tables:
            return set()
        with self.session() as session:
            rows = session.execute(select(SubmissionRow.student_id, SubmissionRow.sha256)
                                   .where(SubmissionRow.assignment == assignment))
            return {(s, h) for s, h in rows}

    def existing(self, assignment: str) -> list[Existing]:
        """What the daily limit needs of every stored row (a snapshot; :meth:`record` re-reads it)."""
        if not self._has_tables:
            return []
        with self.session() as session:
            stored = session.execute(
                select(SubmissionRow.id, SubmissionRow.student_id, SubmissionRow.sha256, SubmissionRow.status,
                       SubmissionRow.submitted_at).where(SubmissionRow.assignment == assignment)).all()
            return [Existing(i, s, h, CsvStatus(st), t) for i, s, h, st, t in stored]

    def add(self, submissions: Iterable[Submission]) -> list[int]:
        """Insert new submissions in one transaction; returns their ids."""
        now = dt.datetime.now(dt.timezone.utc)
        rows = [_to_row(s, now) for s in submissions]
        with self.session() as session:
            session.add_all(rows)
            session.flush()
            return [r.id for r in rows]

    def record(self, assignment: str, decide: Callable[[list[Existing]], Plan]) -> tuple[Plan, list[int]]:
        """In one locked transaction: read what is stored, ``decide`` the rows to write, write them.

        Returns the plan and the new rows' ids (in ``plan.new`` order)."""
        now = dt.datetime.now(dt.timezone.utc)
        with self.session(lock=True) as session:
            stored = session.execute(
                select(SubmissionRow.id, SubmissionRow.student_id, SubmissionRow.sha256, SubmissionRow.status,
                       SubmissionRow.submitted_at).where(SubmissionRow.assignment == assignment)).all()
            decided = decide([Existing(i, s, h, CsvStatus(st), t) for i, s, h, st, t in stored])
            if decided.replaced:
                session.execute(delete(SubmissionRow).where(SubmissionRow.id.in_(decided.replaced)))
                session.flush()
            rows = [_to_row(sub, now) for sub in decided.new]
            session.add_all(rows)
            session.flush()
            return decided, [r.id for r in rows]

    def submissions(self, assignment: str, with_predictions: bool = False,
                    student_id: str | None = None) -> list[Submission]:
        if not self._has_tables:
            return []
        query = select(SubmissionRow).where(SubmissionRow.assignment == assignment)
        if student_id is not None:
            query = query.where(SubmissionRow.student_id == student_id)
        if not with_predictions:
            # The predictions blob is most of the table; leave it on disk unless asked.
            query = query.options(defer(SubmissionRow.predictions))
        with self.session() as session:
            rows = session.scalars(query.order_by(SubmissionRow.submitted_at, SubmissionRow.id)).all()
            return [_to_record(r, with_predictions) for r in rows]

    def set_flags(self, assignment: str, flags: dict[int, tuple[tuple[Flag, ...], str]]) -> int:
        """Make the scored submissions' flags exactly ``flags`` (id -> (names, detail)); others get none.

        Returns how many rows changed.
        """
        changed = 0
        with self.session() as session:
            rows = session.scalars(select(SubmissionRow).options(defer(SubmissionRow.predictions)).where(
                SubmissionRow.assignment == assignment, SubmissionRow.status == CsvStatus.SCORED.value))
            for row in rows:
                names, detail = flags.get(row.id, ((), ""))
                text = ",".join(names)
                if row.flags != text or row.flag_detail != detail:
                    row.flags, row.flag_detail = text, detail
                    changed += 1
        return changed

    def select(self, student_id: str, assignment: str, ids: list[int]) -> list[Submission]:
        """Make exactly ``ids`` the student's selected submissions (all must be theirs and scored)."""
        with self.session() as session:
            rows = session.scalars(select(SubmissionRow).where(SubmissionRow.student_id == student_id,
                                                               SubmissionRow.assignment == assignment)).all()
            if not rows:
                raise LeaderboardError(f"no submissions recorded for student {student_id!r}; check the id "
                                       f"(`leaderboard show --instructor` lists them) or run `leaderboard score`.")
            by_id = {r.id: r for r in rows}
            for wanted in ids:
                row = by_id.get(wanted)
                if row is None:
                    mine = ", ".join(str(r.id) for r in rows)
                    raise LeaderboardError(f"submission {wanted} is not one of {student_id}'s "
                                           f"(theirs: {mine}).")
                if row.status != CsvStatus.SCORED.value:
                    raise LeaderboardError(f"submission {wanted} of {student_id} is {row.status}, not scored; "
                                           f"only scored submissions can be selected.")
            for row in rows:
                row.selected = row.id in ids
            session.flush()
            return [_to_record(r, False) for r in sorted(rows, key=lambda r: (r.submitted_at, r.id))]

    # -- baselines ------------------------------------------------------------------------------
    def put_baseline(self, name: str, public: Accuracy, private: Accuracy) -> Baseline:
        """Add or replace the baseline called ``name``."""
        now = dt.datetime.now(dt.timezone.utc)
        with self.session() as session:
            row = session.scalars(select(BaselineRow).where(BaselineRow.name == name)).first()
            if row is None:
                row = BaselineRow(name=name, created_at=now)
                session.add(row)
            row.public_correct, row.public_total = public.correct, public.total
            row.public_low, row.public_high = public.low, public.high
            row.private_correct, row.private_total = private.correct, private.total
            row.private_low, row.private_high = private.low, private.high
            session.flush()
            return Baseline(name, public, private, row.created_at, row.id)

    def remove_baseline(self, name: str) -> bool:
        with self.session() as session:
            row = session.scalars(select(BaselineRow).where(BaselineRow.name == name)).first()
            if row is None:
                return False
            session.delete(row)
            return True

    def baselines(self) -> list[Baseline]:
        if not self._has_tables:
            return []
        with self.session() as session:
            return [Baseline(r.name,
                             Accuracy(r.public_correct, r.public_total, r.public_low, r.public_high),
                             Accuracy(r.private_correct, r.private_total, r.private_low, r.private_high),
                             r.created_at, r.id)
                    for r in session.scalars(select(BaselineRow).order_by(BaselineRow.id))]
