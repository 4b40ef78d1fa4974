"""The portal's own tables: sign-in tokens and the grading queue (SQLAlchemy, migrated by Alembic).

Contract:

* one database per course; by default ``sqlite:///<course>/.autograder/portal.db``, or the URL in
  ``course.toml`` ``[portal] url`` (PostgreSQL works the same);
* :func:`open_store` brings the schema to the newest revision with Alembic before anything else
  touches it, so a later version of the portal opens an earlier database;
* ``tokens`` keeps only the SHA-256 of each token (a token is 32 random bytes, so no salt is
  needed); the plain token exists only in the CSV ``autograder tokens`` writes;
* ``jobs`` is the grading queue: one row per uploaded notebook, claimed by exactly one worker in a
  transaction; a job is ``queued`` -> ``running`` -> ``done`` (or ``error`` with a message);
  a ``running`` job whose worker died is queued again when a worker starts, at most
  ``MAX_ATTEMPTS`` times in all (then it ends ``error``: one notebook that kills the worker
  never blocks the queue in a crash-restart loop).

The grades themselves stay where the command line keeps them (gradebook, records, leaderboard
database): the portal stores nothing the CLI would not see.
"""
from __future__ import annotations

import datetime as dt
import enum
from pathlib import Path

from sqlalchemy import Boolean, DateTime, Enum, Integer, String, Text, create_engine, event, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

ADMIN = "__instructor__"        # the token owner name of the instructor; never a student id
MAX_ATTEMPTS = 3                # a job the worker died on this many times is not tried again


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


class Base(DeclarativeBase):
    pass


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(200), index=True)
    assignment: Mapped[str] = mapped_column(String(200))
    state: Mapped[JobState] = mapped_column(Enum(JobState, native_enum=False, length=16,
                                                 values_callable=lambda e: [m.value for m in e]),
                                            default=JobState.QUEUED, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    force: Mapped[bool] = mapped_column(Boolean, default=False)


class EndedSession(Base):
    """A session signed out before its cookie expired (kept until it would have expired anyway)."""
    __tablename__ = "ended_sessions"
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    ended_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def default_url(course_root: Path) -> str:
    return f"sqlite:///{(Path(course_root) / '.autograder' / 'portal.db').resolve()}"


def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):        # WAL: the web process reads while the worker writes
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (Alembic ``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")


def open_store(url: str) -> sessionmaker[Session]:
    """Migrate, then return a session factory for the portal database at ``url``."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    return sessionmaker(_engine(url), expire_on_commit=False)


def _rowcount(result) -> int:
    """Rows an UPDATE changed (SQLAlchemy types ``Session.execute`` as a plain Result; an UPDATE's is a
    CursorResult, which counts them)."""
    assert isinstance(result, CursorResult)
    return result.rowcount


# -- the queue ---------------------------------------------------------------------------------
def enqueue(db: sessionmaker[Session], student_id: str, assignment: str, force: bool = False) -> int:
    with db.begin() as s:
        job = Job(student_id=student_id, assignment=assignment, state=JobState.QUEUED, created_at=utcnow(),
                  force=force, attempts=0, message="")
        s.add(job)
        s.flush()
        return job.id


def claim(db: sessionmaker[Session]) -> Job | None:
    """Take the oldest queued job for this worker, or None. Safe with any number of workers:
    the row is taken by an UPDATE that only succeeds while it is still ``queued``."""
    while True:
        with db.begin() as s:
            job = s.scalars(select(Job).where(Job.state == JobState.QUEUED).order_by(Job.id).limit(1)).first()
            if job is None:
                return None
            taken = _rowcount(s.execute(update(Job).where(Job.id == job.id, Job.state == JobState.QUEUED)
                                        .values(state=JobState.RUNNING, started_at=utcnow(),
                                                attempts=Job.attempts + 1)))
            if taken:
                s.expunge(job)
                return job


def finish(db: sessionmaker[Session], job_id: int, state: JobState, message: str = "") -> None:
    with db.begin() as s:
        s.execute(update(Job).where(Job.id == job_id)
                  .values(state=state, finished_at=utcnow(), message=message[:2000]))


def requeue_abandoned(db: sessionmaker[Session]) -> int:
    """Jobs left ``running`` by a worker that died go back to the queue (called at worker start),
    unless the worker died ``MAX_ATTEMPTS`` times on the same job: that job is what kills it, so it
    ends ``error`` and the queue behind it goes on."""
    with db.begin() as s:
        s.execute(update(Job).where(Job.state == JobState.RUNNING, Job.attempts >= MAX_ATTEMPTS)
                  .values(state=JobState.ERROR, finished_at=utcnow(),
                          message=f"the grading worker stopped {MAX_ATTEMPTS} times while grading this "
                                  f"notebook; it is not retried (your instructor sees it in the queue and can regrade it)"))
        return _rowcount(s.execute(update(Job).where(Job.state == JobState.RUNNING)
                                   .values(state=JobState.QUEUED)))


def queue_position(db: sessionmaker[Session], job_id: int) -> int | None:
    """1 for the next job to run; None once the job is no longer waiting."""
    with db() as s:
        job = s.get(Job, job_id)
        if job is None or job.state != JobState.QUEUED:
            return None
        ahead = s.scalars(select(Job.id).where(Job.state == JobState.QUEUED, Job.id < job_id)).all()
        return len(ahead) + 1


def jobs_of(db: sessionmaker[Session], student_id: str | None = None) -> list[Job]:
    with db() as s:
        q = select(Job).order_by(Job.id.desc())
        if student_id is not None:
            q = q.where(Job.student_id == student_id)
        return list(s.scalars(q).all())


def get_setting(db: sessionmaker[Session], key: str) -> str | None:
    with db() as s:
        row = s.get(Setting, key)
        return row.value if row else None


def set_setting(db: sessionmaker[Session], key: str, value: str) -> None:
    with db.begin() as s:
        row = s.get(Setting, key)
        if row is None:
            s.add(Setting(key=key, value=value))
        else:
            row.value = value
