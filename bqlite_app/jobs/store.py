"""Persistent job history in SQLite (WAL) through SQLModel.

The store is the source of truth after a restart. SQLModel owns the schema and the read queries. The two writes every
job makes (insert, then status changes) take a direct DB-API path: SQLAlchemy's per-statement overhead (~0.3 ms)
otherwise dominates the cost of a small job. Values still go through SQLAlchemy's own bind processors, so what the
fast path writes is exactly what the ORM reads back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, text
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, SQLModel, col, select

from bqlite_app.db import Database, busy_is_unavailable, utcnow
from bqlite_app.errors import JobAlreadyExists
from bqlite_app.jobs.models import Job, JobStatus

_JOBS = Job.__table__
_COLUMNS = [column.name for column in _JOBS.columns]
_DIALECT = sqlite.dialect()
_BIND: dict[str, Callable[[Any], Any] | None] = {c.name: c.type.bind_processor(_DIALECT) for c in _JOBS.columns}
_QUOTED = ", ".join(f'"{name}"' for name in _COLUMNS)   # "user" is a column too
_INSERT = f"INSERT INTO jobs ({_QUOTED}) VALUES ({', '.join('?' for _ in _COLUMNS)})"

# Paging bounds for the history: larger offsets overflow SQLite's 64-bit integers, larger pages are no page at all.
MAX_LIST_LIMIT = 1000
MAX_LIST_OFFSET = 1_000_000_000


class JobStore:
    def __init__(self, db: Database) -> None:
        """Creates every table of the shared metadata, so it opens first; whoever opened ``db`` closes it."""
        self._engine = db.engine
        SQLModel.metadata.create_all(self._engine)
        _migrate(self._engine)
        # One writer connection: SQLite serialises writers anyway, and a Python lock avoids busy-wait retries.
        self._writer = db.writer()
        self._write_lock = threading.Lock()

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()

    # -- writes -----------------------------------------------------------------------------------------------

    # Every write raises ``DatabaseBusy`` (503) when the database stays locked past the busy timeout.

    def add(self, job: Job) -> Job:
        """Raises ``JobAlreadyExists`` when a client-chosen id is taken."""
        values = [_bind(name, getattr(job, name)) for name in _COLUMNS]
        with self._write_lock, busy_is_unavailable("job history"):
            try:
                self._writer.execute(_INSERT, values)
            except sqlite3.IntegrityError as exc:
                raise JobAlreadyExists(f"Job {job.job_id!r} already exists") from exc
        return job

    def update(self, job_id: str, **changes: Any) -> bool:
        """Set columns of one job in a single UPDATE."""
        assignments = ", ".join(f"{name} = ?" for name in changes)
        values = [_bind(name, value) for name, value in changes.items()]
        with self._write_lock, busy_is_unavailable("job history"):
            cursor = self._writer.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?", [*values, job_id])
        return cursor.rowcount == 1

    def fail_interrupted(self, reason: str) -> int:
        """Jobs left `running` by a previous process cannot be resumed: their engine work died with it."""
        with self._write_lock, busy_is_unavailable("job history"), Session(self._engine) as session:
            jobs = session.exec(select(Job).where(Job.status == JobStatus.RUNNING)).all()
            now = utcnow()
            for job in jobs:
                job.status, job.error, job.completed_at = JobStatus.FAILED, reason, now
                session.add(job)
            session.commit()
            return len(jobs)

    # -- reads ------------------------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Job, job_id)

    def list(
        self, *, status: str | None = None, engine: str | None = None, search: str | None = None,
        limit: int = 50, offset: int = 0, user: str | None = None,
    ) -> tuple[list[Job], int]:
        """Newest first, with the total count of matching jobs for paging; ``user`` keeps only that user's jobs."""
        query = select(Job)
        count = select(func.count()).select_from(Job)
        for clause in _filters(status, engine, search, user):
            query, count = query.where(clause), count.where(clause)
        query = query.order_by(col(Job.created_at).desc()).offset(offset).limit(limit)
        with Session(self._engine) as session:
            return list(session.exec(query).all()), session.exec(count).one()

    def queued(self) -> list[Job]:
        with Session(self._engine) as session:
            query = select(Job).where(Job.status == JobStatus.QUEUED).order_by(col(Job.created_at))
            return list(session.exec(query).all())

    def bytes_since(self, user: str, since: datetime) -> int:
        """Bytes the user's jobs processed, counting jobs created at or after ``since`` (the daily quota)."""
        query = select(func.coalesce(func.sum(Job.bytes_processed), 0)).where(Job.user == user,
                                                                               Job.created_at >= since)
        with Session(self._engine) as session:
            return int(session.exec(query).one())

    def count_by_status(self) -> dict[str, int]:
        with Session(self._engine) as session:
            rows = session.exec(select(Job.status, func.count()).group_by(Job.status)).all()
        return {str(status): n for status, n in rows}


def _bind(name: str, value: Any) -> Any:
    processor = _BIND[name]
    return value if processor is None or value is None else processor(value)


def _migrate(engine: Engine) -> None:
    """Columns added since a data dir was created: ``jobs.user`` (issue 10; older jobs belong to "local"),
    ``kind``, ``parameters`` and ``resumable`` (issue 11), and ``execution_graph`` (issue 14)."""
    with engine.begin() as connection:
        columns = {row[1] for row in connection.execute(text("PRAGMA table_info(jobs)"))}
        if "user" not in columns:
            connection.execute(text('ALTER TABLE jobs ADD COLUMN "user" VARCHAR NOT NULL DEFAULT \'local\''))
            connection.execute(text('CREATE INDEX IF NOT EXISTS ix_jobs_user ON jobs ("user")'))
        # Issue 11: load jobs beside queries, bound parameters, and jobs whose work lives in memory.
        if "kind" not in columns:
            connection.execute(text("ALTER TABLE jobs ADD COLUMN kind VARCHAR(5) NOT NULL DEFAULT 'QUERY'"))
        if "parameters" not in columns:
            connection.execute(text("ALTER TABLE jobs ADD COLUMN parameters JSON NOT NULL DEFAULT '[]'"))
        if "resumable" not in columns:
            connection.execute(text("ALTER TABLE jobs ADD COLUMN resumable BOOLEAN NOT NULL DEFAULT 1"))
        # Issue 14: the execution graph of the job's own run.
        if "execution_graph" not in columns:
            connection.execute(text("ALTER TABLE jobs ADD COLUMN execution_graph VARCHAR"))


def _filters(status: str | None, engine: str | None, search: str | None, user: str | None = None) -> Iterable[Any]:
    if user is not None:
        yield Job.user == user
    if status:
        yield Job.status == JobStatus(status)
    if engine:
        yield Job.engine == engine
    if search:
        yield col(Job.sql).icontains(search)
