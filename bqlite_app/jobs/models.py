"""Job records: the SQLModel table, the status vocabulary, and the public shape of a job (``JobPublic``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from bqlite_app.db import iso_utc, utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def new_job_id() -> str:
    # BigQuery-style opaque ids; a prefix makes them recognisable in logs and shells.
    return f"job_{uuid.uuid4().hex[:20]}"


class JobKind(StrEnum):
    QUERY = "query"
    LOAD = "load"


class JobBase(SQLModel):
    sql: str
    engine: str = Field(index=True)
    priority: int = 1
    estimated_slots: int = 1
    max_execution_time: int   # seconds; the default is resolved once, in QueryService.submit
    labels: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    kind: JobKind = JobKind.QUERY
    # Typed query parameters, bound by the engine: [{"name", "type", "value"}] (``bqlite_app.jobs.params``).
    parameters: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Job(JobBase, table=True):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_created_at", "created_at"),)

    job_id: str = Field(default_factory=new_job_id, primary_key=True)
    status: JobStatus = Field(default=JobStatus.QUEUED, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    execution_time_ms: int | None = None
    rows_returned: int | None = None
    bytes_processed: int | None = None
    result_bytes: int | None = None
    error: str | None = None
    error_position: int | None = None
    # Who submitted it ("local" with auth off, and for history from before users existed).
    user: str = Field(default="local", index=True)
    # False for jobs whose work lives in memory (``jobs.work.JobHooks``): they cannot be resumed after a restart.
    resumable: bool = True
    # The run's execution graph as JSON (``jobs.graphs``): the graph, or where the engine logged its profile until
    # it is first read. Text, not JSON: job lists never decode it.
    execution_graph: str | None = None


class JobPublic(BaseModel):
    """A job as every face shows it (docs/api.md, "Queries and jobs"): the REST answer, and what the UI reads.

    Timestamps are ISO strings with the UTC offset (SQLite drops it), and ``progress`` and ``queue_position`` come
    from the scheduler, not the stored row. Built with ``of``.
    """

    job_id: str
    kind: JobKind = JobKind.QUERY
    sql: str
    engine: str
    status: JobStatus
    priority: int
    estimated_slots: int
    max_execution_time: int
    created_at: str
    started_at: str | None
    completed_at: str | None
    execution_time_ms: int | None
    rows_returned: int | None
    bytes_processed: int | None
    error: str | None
    error_position: int | None = None
    progress: float | None
    queue_position: int | None
    labels: dict[str, str]
    user: str = "local"
    # The typed parameters the engine bound: [{"name", "type", "value"}], as submitted (``bqlite_app.jobs.params``).
    parameters: list[dict[str, Any]] = []

    @classmethod
    def of(cls, job: Job, *, progress: float | None = None, queue_position: int | None = None) -> JobPublic:
        # model_construct: every value here is already of its type, and a job list builds one per row.
        return cls.model_construct(
            job_id=job.job_id, kind=JobKind(job.kind), sql=valid_text(job.sql), engine=job.engine,
            status=JobStatus(job.status), priority=job.priority, estimated_slots=job.estimated_slots,
            max_execution_time=job.max_execution_time, created_at=iso_utc(job.created_at),
            started_at=iso_utc(job.started_at), completed_at=iso_utc(job.completed_at),
            execution_time_ms=job.execution_time_ms, rows_returned=job.rows_returned,
            bytes_processed=job.bytes_processed, error=job.error, error_position=job.error_position,
            progress=progress, queue_position=queue_position,
            labels={valid_text(k): valid_text(v) for k, v in (job.labels or {}).items()}, user=job.user,
            parameters=list(job.parameters or ()))


def valid_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD. History written before labels were checked may hold them,
    and one such string made every listing that includes its job fail to encode."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text

