"""What BigQuery says about a job that our job record does not hold: the client's project and location, and the
configuration it sent, echoed back by ``jobs.get`` and ``jobs.list`` as Google does (and after a restart)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlalchemy import Engine as SqlEngine
from sqlmodel import Field, Session, SQLModel, select


class BigQueryJob(SQLModel, table=True):
    __tablename__ = "bigquery_jobs"

    job_id: str = Field(primary_key=True)
    project: str
    location: str = "US"
    configuration: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    statement_type: str = "SELECT"
    # The destination table when the client named one, as "dataset.table".
    destination: str | None = None


class JobMetaStore:
    def __init__(self, db: SqlEngine) -> None:
        self._db = db
        SQLModel.metadata.create_all(db, tables=[BigQueryJob.__table__])

    def add(self, meta: BigQueryJob) -> None:
        with Session(self._db, expire_on_commit=False) as session:
            session.add(meta)
            session.commit()

    def get(self, job_id: str) -> BigQueryJob | None:
        with Session(self._db, expire_on_commit=False) as session:
            return session.get(BigQueryJob, job_id)

    def get_many(self, job_ids: list[str]) -> dict[str, BigQueryJob]:
        if not job_ids:
            return {}
        with Session(self._db, expire_on_commit=False) as session:
            rows = session.exec(select(BigQueryJob).where(BigQueryJob.job_id.in_(job_ids))).all()  # type: ignore[attr-defined]
            return {row.job_id: row for row in rows}
