"""Persistent job history in SQLite (WAL) through SQLModel.

The store is the source of truth after a restart. Writes are short transactions from many threads; WAL lets readers
(the history page, ``GET /jobs``) proceed while a worker records a result.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import event, func, update
from sqlmodel import Session, SQLModel, col, create_engine, select

from bqlite_app.jobs.models import Job, JobStatus, utcnow


class JobStore:
    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._engine = create_engine(
            f"sqlite:///{db_path}", connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(self._engine, "connect", _sqlite_pragmas)
        SQLModel.metadata.create_all(self._engine)
        # SQLite serialises writers anyway; taking the lock in Python avoids busy-wait retries under load.
        self._write_lock = threading.Lock()

    def close(self) -> None:
        self._engine.dispose()

    # -- writes -----------------------------------------------------------------------------------------------

    def add(self, job: Job) -> Job:
        with self._write_lock, Session(self._engine, expire_on_commit=False) as session:
            session.add(job)
            session.commit()
        return job

    def update(self, job_id: str, **changes: object) -> bool:
        """Set columns of one job in a single UPDATE (the hot path: every job writes twice more after insert)."""
        with self._write_lock, self._engine.begin() as conn:
            result = conn.execute(update(Job).where(col(Job.job_id) == job_id).values(**changes))
            return result.rowcount == 1

    def fail_interrupted(self, reason: str) -> int:
        """Jobs left `running` by a previous process cannot be resumed: their engine work died with it."""
        with self._write_lock, Session(self._engine) as session:
            jobs = session.exec(select(Job).where(Job.status == JobStatus.RUNNING)).all()
            now = utcnow()
            for job in jobs:
                job.status, job.error, job.completed_at = JobStatus.FAILED, reason, now
                session.add(job)
            session.commit()
            return len(jobs)

    def delete_before(self, cutoff: datetime) -> list[str]:
        """Forget finished jobs created before ``cutoff``; returns their ids so results can go too."""
        with self._write_lock, Session(self._engine) as session:
            finished = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]
            jobs = session.exec(
                select(Job).where(Job.created_at < cutoff, col(Job.status).in_(finished))
            ).all()
            for job in jobs:
                session.delete(job)
            session.commit()
            return [job.job_id for job in jobs]

    # -- reads ------------------------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Job, job_id)

    def list(
        self, *, status: str | None = None, engine: str | None = None, search: str | None = None,
        limit: int = 50, offset: int = 0,
    ) -> tuple[list[Job], int]:
        """Newest first, with the total count of matching jobs for paging."""
        query = select(Job)
        count = select(func.count()).select_from(Job)
        for clause in _filters(status, engine, search):
            query, count = query.where(clause), count.where(clause)
        query = query.order_by(col(Job.created_at).desc()).offset(offset).limit(limit)
        with Session(self._engine) as session:
            return list(session.exec(query).all()), session.exec(count).one()

    def queued(self) -> list[Job]:
        with Session(self._engine) as session:
            query = select(Job).where(Job.status == JobStatus.QUEUED).order_by(col(Job.created_at))
            return list(session.exec(query).all())

    def count_by_status(self) -> dict[str, int]:
        with Session(self._engine) as session:
            rows = session.exec(select(Job.status, func.count()).group_by(Job.status)).all()
        return {str(status): n for status, n in rows}

    def count_by_engine_status(self) -> dict[tuple[str, str], int]:
        with Session(self._engine) as session:
            rows = session.exec(select(Job.engine, Job.status, func.count()).group_by(Job.engine, Job.status)).all()
        return {(engine, str(status)): n for engine, status, n in rows}


def _filters(status: str | None, engine: str | None, search: str | None) -> Iterable[object]:
    if status:
        yield Job.status == JobStatus(status)
    if engine:
        yield Job.engine == engine
    if search:
        yield col(Job.sql).icontains(search)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
