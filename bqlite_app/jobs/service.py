"""The query and job service the three faces call: submit, dry-run, inspect, cancel and read results."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pyarrow as pa

from bqlite_app.access.audit import AuditLog
from bqlite_app.access.authorize import Authorizer, split_name
from bqlite_app.access.grants import Grants
from bqlite_app.access.principal import LOCAL, Principal
from bqlite_app.access.quotas import Quotas
from bqlite_app.access.sql_policy import SqlPolicy
from bqlite_app.db import utcnow
from bqlite_app.errors import (
    EngineNotAvailable,
    JobAlreadyFinished,
    JobNotFound,
    QuotaExceeded,
    SqlNotAllowed,
    ValidationFailed,
)
from bqlite_app.jobs.graphs import JobGraph, job_graph
from bqlite_app.jobs.labels import validate_labels
from bqlite_app.jobs.models import Job, JobKind, JobPublic, JobStatus, new_job_id
from bqlite_app.jobs.param_sql import bind_sql
from bqlite_app.jobs.params import check_parameters, decode_parameters
from bqlite_app.jobs.result_query import Aggregate, ResultQuery
from bqlite_app.jobs.result_view import PLAIN, ResultView
from bqlite_app.jobs.results import ResultStore
from bqlite_app.jobs.scheduler import NO_HOOKS, Scheduler
from bqlite_app.jobs.store import MAX_LIST_LIMIT, MAX_LIST_OFFSET, JobStore
from bqlite_app.jobs.work import AfterQuery, JobHooks
from engines.base import Engine
from engines.errors import EngineQueryError

JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,1024}")


@dataclass(frozen=True)
class QuerySpec:
    sql: str
    engine: str = "duckdb"
    priority: int = 1
    estimated_slots: int = 1
    # Seconds; None takes the service's default (``BQLITE_DEFAULT_TIMEOUT_S``), resolved once, in ``submit``.
    max_execution_time: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    # Typed parameters the engine binds: ({"name", "type", "value"}, ...) as ``bqlite_app.jobs.params`` reads them.
    # ``@name`` in the SQL names one (``jobs.param_sql``); ``$name`` / ``{name:Type}`` do too.
    parameters: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ResultPage:
    job: Job
    table: pa.Table
    total_rows: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + self.table.num_rows
        return end if end < self.total_rows else None


class QueryService:
    """Every method that acts for someone takes ``user``: SQL is checked against the user's grants before a job
    exists, and someone else's job is ``JobNotFound`` (admins see every job)."""

    def __init__(self, *, engines: dict[str, Engine], store: JobStore, results: ResultStore, scheduler: Scheduler,
                 max_sql_bytes: int, policy: SqlPolicy, grants: Grants | None = None, audit: AuditLog | None = None,
                 quotas: Quotas | None = None, default_timeout_s: int, result_memory_limit: str | None = None) -> None:
        self._engines = engines
        self._default_timeout_s = default_timeout_s
        self._policy = policy
        self._audit = audit
        self._grants = grants
        self._authorizer = Authorizer(grants, audit) if grants is not None and audit is not None else None
        self._quotas = quotas
        self._store = store
        self._results = results
        self._views = ResultQuery(results, memory_limit=result_memory_limit)  # sort, filter, aggregate results
        self._scheduler = scheduler
        self._max_sql_bytes = max_sql_bytes
        # Moving average of execution time per engine, for estimated_completion_time.
        self._avg_ms: dict[str, float] = {}

    # -- submit --------------------------------------------------------------------------------------------------

    def submit(self, spec: QuerySpec, *, user: Principal, job_id: str | None = None,
               after: AfterQuery | None = None) -> Job:
        """Queue the query as a job. ``job_id`` is a client's own id (BigQuery clients choose theirs;
        ``JobAlreadyExists`` when taken); ``after`` runs once its result is stored (``jobs.work.AfterQuery``)."""
        if spec.max_execution_time is None:
            spec = replace(spec, max_execution_time=self._default_timeout_s)
        spec = self._validate(spec)
        if job_id is not None:
            validate_job_id(job_id)
        # The job keeps the SQL as written; the engine reads its placeholders (as the scheduler does when it runs).
        engine_sql = bind_sql(spec.sql, spec.engine, spec.parameters).text
        self._check_sql(user, spec.engine, engine_sql)
        if self._quotas is not None and self._quotas.daily_bytes is not None:
            estimate = self._engines[spec.engine].estimate(engine_sql, parameters=decode_parameters(spec.parameters))
            try:
                self._quotas.check_daily_bytes(user, estimate.estimated_bytes_processed if estimate.valid else 0)
            except QuotaExceeded as exc:
                self._record(user, "access.denied", spec.engine, outcome="denied",
                             detail={"reason": "daily bytes quota", "message": exc.detail})
                raise
        # Every field given: a default factory left to SQLModel inspects its signature on each job.
        job = Job(job_id=job_id or new_job_id(), created_at=utcnow(), sql=spec.sql, engine=spec.engine,
                  priority=spec.priority, estimated_slots=spec.estimated_slots,
                  max_execution_time=spec.max_execution_time, labels=dict(spec.labels), user=user.username,
                  parameters=[dict(p) for p in spec.parameters])
        job = self._scheduler.submit(job, JobHooks(after=after) if after is not None else NO_HOOKS)
        self._record(user, "job.submit", job.job_id, detail={"engine": job.engine})
        self._own_created_datasets(user, spec.engine, engine_sql)
        return job

    def rerun(self, job_id: str, *, user: Principal) -> Job:
        """Submit one of the caller's query jobs again, as the caller: the same SQL, engine, priority, slots, time
        limit, labels and parameters, checked against the caller's grants as any submit is."""
        job = self.get(job_id, user=user)
        if job.kind != JobKind.QUERY:
            raise ValidationFailed(f"Job {job_id} is a {job.kind} job; only query jobs can be re-run")
        return self.submit(QuerySpec(
            sql=job.sql, engine=job.engine, priority=job.priority, estimated_slots=job.estimated_slots,
            max_execution_time=job.max_execution_time, labels=dict(job.labels or {}),
            parameters=tuple(dict(p) for p in job.parameters or ())), user=user)

    def dry_run(self, spec: QuerySpec, *, user: Principal) -> dict[str, Any]:
        spec = self._validate(spec)
        bound = bind_sql(spec.sql, spec.engine, spec.parameters)
        self._check_sql(user, spec.engine, bound.text)
        estimate = self._engines[spec.engine].estimate(bound.text, parameters=decode_parameters(spec.parameters))
        answer: dict[str, Any] = {
            "dry_run": True, "valid": estimate.valid,
            "estimated_bytes_processed": estimate.estimated_bytes_processed,
            "referenced_tables": list(estimate.referenced_tables),
        }
        if not estimate.valid:
            answer["error"] = estimate.error
            answer["error_position"] = bound.user_position(estimate.position)
        return answer

    def estimated_completion(self, job: Job) -> str | None:
        average = self._avg_ms.get(job.engine)
        if average is None:
            return None
        ahead = (self._scheduler.queue_position(job.job_id) or 1)
        return (utcnow() + timedelta(milliseconds=average * ahead)).isoformat()

    def record_finished(self, job: Job) -> None:
        if job.status == JobStatus.COMPLETED and job.execution_time_ms is not None:
            previous = self._avg_ms.get(job.engine, float(job.execution_time_ms))
            self._avg_ms[job.engine] = 0.8 * previous + 0.2 * job.execution_time_ms

    def _check_sql(self, user: Principal, engine_name: str, sql: str) -> None:
        """The sandbox, then the caller's grants: both before anything else touches the engine."""
        engine = self._engines[engine_name]
        try:
            self._policy.check(engine, sql)
        except SqlNotAllowed as exc:
            self._record(user, "sql.refused", engine_name, outcome="denied", detail={"reason": exc.detail})
            raise
        if self._authorizer is not None and not user.is_admin:
            self._authorizer.check_sql(user, engine, self._policy.statements(engine, sql))

    def _own_created_datasets(self, user: Principal, engine: str, sql: str) -> None:
        """Whoever creates a dataset (``CREATE SCHEMA``/``DATABASE``, which only admins may run) owns it."""
        if self._grants is None or user.user_id == LOCAL.user_id:
            return
        for statement in self._policy.statements(self._engines[engine], sql) or []:
            if statement.operation == "create_database" and statement.targets:
                self._grants.make_owner(user.user_id, split_name(statement.targets[0], engine, None)[1])

    def _record(self, user: Principal, action: str, target: str, *, outcome: str = "ok",
                detail: dict[str, Any] | None = None) -> None:
        if self._audit is not None:
            self._audit.record(user, action, target=target, outcome=outcome, detail=detail)

    def _validate(self, spec: QuerySpec) -> QuerySpec:
        """``spec`` checked, with its parameters' type names made canonical."""
        if spec.engine not in self._engines:
            raise EngineNotAvailable(
                f"Unknown engine {spec.engine!r}; available engines: {', '.join(sorted(self._engines))}")
        if not spec.sql.strip():
            raise ValidationFailed("sql: the query is empty")
        size = len(spec.sql.encode())
        if size > self._max_sql_bytes:
            raise ValidationFailed(f"sql: the query is {size:,} bytes; the limit is {self._max_sql_bytes:,} bytes")
        _check_range("priority", spec.priority, 1, 5)
        _check_range("estimated_slots", spec.estimated_slots, 1, 10)
        if spec.max_execution_time is not None:
            _check_range("max_execution_time", spec.max_execution_time, 1, 86400)
        validate_labels(spec.labels)
        if spec.parameters:
            size = len(json.dumps(list(spec.parameters), default=str).encode())
            if size > self._max_sql_bytes:
                raise ValidationFailed(f"parameters: they are {size:,} bytes of JSON; the limit is "
                                       f"{self._max_sql_bytes:,} bytes")
            spec = replace(spec, parameters=tuple(check_parameters(list(spec.parameters))))
        return spec

    # -- inspect -------------------------------------------------------------------------------------------------

    def get(self, job_id: str, *, user: Principal) -> Job:
        job = self._scheduler.live_job(job_id) or self._store.get(job_id)
        if job is None or not (user.is_admin or job.user == user.username):
            # Someone else's job answers exactly as a missing one: its id tells nothing.
            raise JobNotFound(f"Job {job_id!r} not found")
        return job

    def describe(self, job: Job) -> JobPublic:
        """The job as the faces show it (docs/api.md), with live progress and queue position."""
        progress: float | None = None
        if job.status == JobStatus.RUNNING:
            progress = self._scheduler.progress(job.job_id)
        elif job.status == JobStatus.COMPLETED:
            progress = 1.0
        position = self._scheduler.queue_position(job.job_id) if job.status == JobStatus.QUEUED else None
        return JobPublic.of(job, progress=progress, queue_position=position)

    def list(self, *, user: Principal, status: str | None = None, engine: str | None = None,
             search: str | None = None, limit: int = 50, offset: int = 0,
             owner: str | None = None) -> tuple[list[Job], int]:
        """The caller's jobs; an admin sees everyone's, or only ``owner``'s when given."""
        if status is not None and status not in {s.value for s in JobStatus}:
            raise ValidationFailed(f"status: must be one of {', '.join(s.value for s in JobStatus)}")
        if engine is not None and engine not in self._engines:
            raise EngineNotAvailable(f"Unknown engine {engine!r}")
        _check_range("limit", limit, 1, MAX_LIST_LIMIT)
        _check_range("offset", offset, 0, MAX_LIST_OFFSET)
        who = (owner or None) if user.is_admin else user.username
        return self._store.list(status=status, engine=engine, search=search, limit=limit, offset=offset, user=who)

    def cancel(self, job_id: str, *, user: Principal) -> Job:
        job = self.get(job_id, user=user)
        if JobStatus(job.status).finished or self._scheduler.cancel(job_id) is None:
            job = self.get(job_id, user=user)
            raise JobAlreadyFinished(f"Job {job_id} already finished with status {job.status}")
        self._record(user, "job.cancel", job_id)
        return self.get(job_id, user=user)

    def wait(self, job_id: str, timeout_s: float, *, user: Principal) -> Job:
        self.get(job_id, user=user)
        self._scheduler.wait(job_id, timeout_s)
        return self.get(job_id, user=user)

    async def wait_async(self, job_id: str, timeout_s: float, *, user: Principal) -> Job:
        self.get(job_id, user=user)
        await self._scheduler.wait_async(job_id, timeout_s)
        return self.get(job_id, user=user)

    def explain(self, job: Job, *, user: Principal) -> str:
        self._owned(job, user)
        # Jobs were judged when submitted, but history may predate the sandbox (and grants change): planning is
        # checked again, and must never execute anything.
        sql = bind_sql(job.sql, job.engine, job.parameters).text
        self._check_sql(user, job.engine, sql)
        try:
            return self._engines[job.engine].explain(sql, parameters=decode_parameters(job.parameters))
        except EngineQueryError as exc:
            # The job failed the same way and says so in its status; asking for its plan is no server error.
            raise ValidationFailed(f"Job {job.job_id} has no plan: the engine rejects its SQL: {exc.message}") from exc

    def execution_graph(self, job: Job, *, user: Principal) -> JobGraph:
        """The execution graph of the job's own run (``jobs.graphs``): kept with the job, never from a second
        execution."""
        self._owned(job, user)
        return job_graph(job, self._engines.get(job.engine), self._store)

    # -- results -------------------------------------------------------------------------------------------------

    def result_cells(self, job: Job, *, user: Principal) -> int:
        """Rows x columns of the stored result (from cached metadata: cheap)."""
        self._owned(job, user)
        info = self._results.info(job.job_id)
        return info.rows * max(1, len(info.schema))

    def page(self, job: Job, *, offset: int, limit: int, user: Principal, past_end: bool = False,
             view: ResultView = PLAIN) -> ResultPage:
        """Rows ``[offset, offset + limit)`` of the stored result, sorted and filtered by ``view``
        (``jobs.result_view``; ``total_rows`` then counts the rows that pass the filters). An offset past the last
        row is ``ValidationFailed``, unless ``past_end`` asks for an empty page instead (BigQuery's ``startIndex``)."""
        self._owned(job, user)
        if not view.active:
            info = self._results.info(job.job_id)
            if offset > info.rows and not past_end:
                raise ValidationFailed(f"offset: {offset} is beyond the end of the result ({info.rows} rows)")
            table = self._results.page(job.job_id, offset, limit)
            return ResultPage(job=job, table=table, total_rows=info.rows, offset=offset)
        total = self._views.count(job.job_id, view)
        if offset > total and not past_end:
            raise ValidationFailed(f"offset: {offset} is beyond the end of the filtered result ({total} rows)")
        found = self._views.page(job.job_id, view, offset, limit)
        return ResultPage(job=job, table=found.table, total_rows=found.total_rows, offset=offset)

    def export(self, job: Job, fmt: str, *, user: Principal, view: ResultView = PLAIN) -> Iterator[bytes]:
        """The whole result as ``fmt``, sorted and filtered by ``view``; checks run before the first byte."""
        self._owned(job, user)
        rows = (lambda: self._views.batches(job.job_id, view)) if view.active else None
        chunks = self._results.export(job.job_id, fmt, rows=rows)  # type: ignore[arg-type]
        detail: dict[str, Any] = {"format": fmt}
        if view.active:
            detail["order_by"] = ",".join(key.spec() for key in view.order_by)
            detail["filters"] = [f.spec() for f in view.filters]
        self._record(user, "job.export", job.job_id, detail=detail)
        return chunks

    def aggregate(self, job: Job, x: str, ys: Sequence[str] = (), agg: str = "sum", *, user: Principal,
                  view: ResultView = PLAIN, max_groups: int = 1000) -> Aggregate:
        """The whole stored result grouped by ``x`` with ``agg`` (sum|avg|min|max|count) over each of ``ys``, after
        ``view.filters``; at most ``max_groups`` groups (``ResultQuery.aggregate`` says how it caps them)."""
        self._owned(job, user)
        if job.status != JobStatus.COMPLETED:
            raise ValidationFailed(f"Job {job.job_id} is {job.status}; only a completed job has a result")
        return self._views.aggregate(job.job_id, x, ys, agg, view=view, max_groups=max_groups)

    def _owned(self, job: Job, user: Principal) -> None:
        if not (user.is_admin or job.user == user.username):
            raise JobNotFound(f"Job {job.job_id!r} not found")


def validate_job_id(job_id: str) -> None:
    """BigQuery's rule for job ids: letters, digits, dashes and underscores, at most 1,024 characters."""
    if not JOB_ID.fullmatch(job_id):
        raise ValidationFailed("job_id: use 1 to 1,024 letters, digits, dashes (-) and underscores (_)")


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValidationFailed(f"{name}: must be between {low} and {high}, got {value}")
