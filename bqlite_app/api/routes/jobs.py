"""Job history, detail, cancel, results and exports."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from bqlite_app.access.principal import Principal
from bqlite_app.api.deps import CurrentUser, QueriesDep
from bqlite_app.api.models import (
    ERROR_RESPONSES,
    MAX_PAGE_ROWS,
    MAX_WAIT_MS,
    ChartPublic,
    ErrorBody,
    JobList,
    ResultPagePublic,
)
from bqlite_app.api.responses import FastJSONResponse
from bqlite_app.errors import ValidationFailed
from bqlite_app.jobs.graphs import GraphStatus
from bqlite_app.jobs.jsonify import describe_columns, rows_from_table
from bqlite_app.jobs.models import Job, JobPublic, JobStatus
from bqlite_app.jobs.result_query import DEFAULT_MAX_GROUPS, MAX_GROUPS
from bqlite_app.jobs.result_view import PLAIN, ResultView, parse_view
from bqlite_app.jobs.results import EXPORT_FORMATS
from bqlite_app.jobs.service import QueryService
from bqlite_app.jobs.store import MAX_LIST_LIMIT, MAX_LIST_OFFSET

router = APIRouter(tags=["jobs"], responses=ERROR_RESPONSES)

# Rows of a result a page may start at: every such offset is exact in JSON (2^53) and in Arrow's 64-bit indices.
MAX_RESULT_OFFSET = 2**53 - 1
# Pages up to this many values are converted on the event loop: a thread hop would cost more than the work.
INLINE_PAGE_CELLS = 2_000


@router.get("/jobs", responses={200: {"model": JobList}})
def list_jobs(
    queries: QueriesDep,
    user: CurrentUser,
    status: str | None = None,
    engine: str | None = None,
    search: str | None = Query(None, description="Case-insensitive text search over the SQL."),
    limit: int = Query(50, ge=1, le=MAX_LIST_LIMIT),
    offset: int = Query(0, ge=0, le=MAX_LIST_OFFSET),
    owner: str | None = Query(None, alias="user", description="Admins: only this user's jobs."),
) -> FastJSONResponse:
    """The caller's jobs, newest first; admins see everyone's (and may filter with `user`)."""
    # Sync, so it runs in the thread pool: a text search scans the whole history, which must not stall the loop.
    jobs, total = queries.list(user=user, status=status or None, engine=engine or None, search=search, limit=limit,
                               offset=offset, owner=owner or None)
    return FastJSONResponse({"jobs": [queries.describe(job).model_dump(mode="json") for job in jobs], "total": total})


@router.get("/jobs/{job_id}", response_model=JobPublic)
async def get_job(job_id: str, queries: QueriesDep, user: CurrentUser) -> JobPublic:
    """Someone else's job answers 404 `JOB_NOT_FOUND`, as if it did not exist (admins see every job)."""
    return queries.describe(queries.get(job_id, user=user))


@router.delete("/jobs/{job_id}", response_model=JobPublic)
def cancel_job(job_id: str, queries: QueriesDep, user: CurrentUser) -> JobPublic:
    """Cancel a queued or running job; a running query is interrupted in its engine."""
    return queries.describe(queries.cancel(job_id, user=user))


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic)
def cancel_job_post(job_id: str, queries: QueriesDep, user: CurrentUser) -> JobPublic:
    return queries.describe(queries.cancel(job_id, user=user))


@router.get("/jobs/{job_id}/plan")
def job_plan(job_id: str, queries: QueriesDep, user: CurrentUser) -> dict[str, Any]:
    """The engine's query plan for the job's SQL (EXPLAIN), and the execution graph of the job's own run: its
    operators with their time, rows and share of the time. Runs nothing again.

    SQL the engine cannot plan (a syntax error, a missing table) answers 422 `VALIDATION_FAILED` with its message,
    unless the job's run left a graph: then `plan` is null and `plan_error` says why.
    """
    job = queries.get(job_id, user=user)
    graph = queries.execution_graph(job, user=user)
    answer: dict[str, Any] = {"job_id": job.job_id, "engine": job.engine}
    try:
        answer["plan"] = queries.explain(job, user=user)
    except ValidationFailed as exc:
        if graph.status != GraphStatus.AVAILABLE:
            raise
        answer["plan"], answer["plan_error"] = None, exc.detail
    answer["execution_graph"] = graph.as_dict()
    return answer


@router.get("/jobs/{job_id}/result", responses={
    200: {"model": ResultPagePublic,
          "description": "A page of rows, or the error of a failed/cancelled job; with `format`, the whole result.",
          # The exports stream in their own formats; naming them keeps clients that check content types honest.
          "content": {media_type: {} for media_type, _ in EXPORT_FORMATS.values()}},
    202: {"description": "The job is still queued or running."},
    410: {"model": ErrorBody, "description": "The stored result expired, was removed or is unreadable."},
})
async def job_result(
    job_id: str,
    queries: QueriesDep,
    user: CurrentUser,
    offset: int = Query(0, ge=0, le=MAX_RESULT_OFFSET),
    limit: int = Query(1000, ge=1, le=MAX_PAGE_ROWS),
    format: Literal["json", "csv", "ndjson", "parquet", "arrow", "xlsx"] = "json",
    order_by: list[str] = Query([], description=(
        "Sort the whole result: `col[:asc|:desc][,col2[:desc]]`, repeatable; ties keep the stored order. "
        "A name holding `,` or `:` goes in double quotes.")),
    filters: list[str] = Query([], alias="filter", description=(
        "Keep rows where `col:op[:value]` holds; repeatable (all must hold). op: contains, =, !=, <, <=, >, >=, "
        "is_null, not_null. `total_rows` then counts the matching rows. Applies to every `format`.")),
    timeout_ms: int = Query(0, ge=0, le=MAX_WAIT_MS, description="Wait up to this long for the job to finish."),
    download_token: str | None = Query(None, max_length=2048, description=(
        "Instead of a bearer header: a one-minute token for this job's result, for a plain browser link "
        "(the UI's downloads with auth on). It opens nothing else.")),
) -> Any:
    del download_token  # read by the authentication dependency; declared here to document it
    view = parse_view(order_by, filters)
    job = queries.get(job_id, user=user)
    if timeout_ms and not JobStatus(job.status).finished:
        job = await queries.wait_async(job_id, timeout_ms / 1000, user=user)
    if not JobStatus(job.status).finished:
        return FastJSONResponse({"job_id": job.job_id, "status": str(job.status)}, status_code=202)
    if job.status == JobStatus.COMPLETED and format != "json":
        if view.active:  # the sort runs before the first byte (its errors are still an error envelope): off the loop
            return await run_in_threadpool(_export, queries, job, format, user, view)
        return _export(queries, job, format, user)
    return FastJSONResponse(await finished_result(queries, job, offset, limit, user, view))


async def finished_result(queries: QueryService, job: Job, offset: int, limit: int,
                          user: Principal, view: ResultView = PLAIN) -> dict[str, Any]:
    """A finished job's JSON answer: a page of rows, or the error of a failed or cancelled job. Shared with
    `POST /queries` `wait_ms`, whose `result` is exactly this page."""
    if job.status != JobStatus.COMPLETED:
        return {"job_id": job.job_id, "status": str(job.status), "error": job.error}
    if not view.active and queries.result_cells(job, user=user) <= INLINE_PAGE_CELLS:
        return _page(queries, job, offset, limit, user)
    return await run_in_threadpool(_page, queries, job, offset, limit, user, view)


def _page(queries: QueryService, job: Job, offset: int, limit: int, user: Principal,
          view: ResultView = PLAIN) -> dict[str, Any]:
    # Runs in the thread pool for large pages and for any sort or filter: DuckDB, reading and JSON are CPU work.
    page = queries.page(job, offset=offset, limit=limit, user=user, view=view)
    return {
        "job_id": job.job_id, "status": "completed",
        "columns": describe_columns(page.table.schema),
        "rows": rows_from_table(page.table),
        "total_rows": page.total_rows, "offset": offset, "next_offset": page.next_offset,
        "execution_stats": {"execution_time_ms": job.execution_time_ms, "engine": job.engine,
                            "bytes_processed": job.bytes_processed},
    }


def _export(queries: QueryService, job: Job, fmt: str, user: Principal,
            view: ResultView = PLAIN) -> StreamingResponse:
    media_type, extension = EXPORT_FORMATS[fmt]
    chunks = queries.export(job, fmt, user=user, view=view)
    return StreamingResponse(
        chunks, media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{job.job_id}.{extension}"'},
    )


@router.get("/jobs/{job_id}/chart", responses={
    200: {"model": ChartPublic},
    410: {"model": ErrorBody, "description": "The stored result expired, was removed or is unreadable."},
})
def job_chart(
    job_id: str,
    queries: QueriesDep,
    user: CurrentUser,
    x: str = Query(..., min_length=1, max_length=1024, description="The column to group by."),
    y: list[str] = Query([], description="A column to aggregate; repeatable (one series each)."),
    agg: Literal["sum", "avg", "min", "max", "count"] = Query("sum", description=(
        "The aggregate of each y column; `count` with no y counts rows.")),
    max_groups: int = Query(DEFAULT_MAX_GROUPS, ge=1, le=MAX_GROUPS, description=(
        "At most this many groups: a numeric or temporal x with more values is binned into this many equal-width "
        "bins; any other x keeps its largest groups.")),
    filters: list[str] = Query([], alias="filter", description=(
        "Only rows where `col:op[:value]` holds, as on `GET /jobs/{id}/result`.")),
) -> FastJSONResponse:
    """The whole stored result grouped by `x`, with `agg` over each `y`: what a chart of a big result plots.

    Sync, so it runs in the thread pool: DuckDB reads the whole result.
    """
    view = parse_view(None, filters)
    job = queries.get(job_id, user=user)
    if not JobStatus(job.status).finished:
        return FastJSONResponse({"job_id": job.job_id, "status": str(job.status)}, status_code=202)
    found = queries.aggregate(job, x, y, agg, user=user, view=view, max_groups=max_groups)
    return FastJSONResponse({
        "job_id": job.job_id, "x": found.x, "y": list(found.ys), "agg": found.agg,
        "columns": describe_columns(found.table.schema), "rows": rows_from_table(found.table),
        "groups": found.groups, "source_rows": found.rows, "binned": found.binned, "truncated": found.truncated,
        "bin_width": found.bin_width,
    })
