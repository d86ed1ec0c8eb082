"""POST /queries: submit a job, or dry-run it; with `wait_ms`, wait for it and answer its first page too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from bqlite_app.api.deps import CoreDep, CurrentUser
from bqlite_app.api.models import ERROR_RESPONSES, QueryAccepted, QueryCreate
from bqlite_app.api.responses import FastJSONResponse
from bqlite_app.api.routes.jobs import finished_result
from bqlite_app.jobs.models import JobStatus
from bqlite_app.jobs.service import QuerySpec

router = APIRouter(tags=["queries"])


# `result` is left out unless a waited-for job ended: then the answer is built below, past the response model.
@router.post("/queries", response_model=QueryAccepted, response_model_exclude_none=False,
             response_model_exclude={"result"}, responses=ERROR_RESPONSES)
async def submit_query(body: QueryCreate, core: CoreDep, user: CurrentUser) -> Any:
    """Run SQL as an asynchronous job. SQL the engine rejects is not an HTTP error: the job ends `failed`.

    Every table the SQL reads or writes is checked against the caller's dataset grants first (403 `ACCESS_DENIED`
    naming the dataset and the role needed; no job is created).

    With `wait_ms`, the answer waits until the job ends or the time is up (no thread waits meanwhile). A job that
    ended within it answers with `result`: the first page (`max_rows` rows), or the error of a failed or cancelled
    job, exactly as `GET /jobs/{id}/result` gives it. See docs/api.md.
    """
    queries = core.queries
    spec = QuerySpec(sql=body.sql, engine=body.engine, priority=body.priority,
                     estimated_slots=body.estimated_slots, max_execution_time=body.max_execution_time,
                     labels=body.labels, parameters=tuple(p.model_dump() for p in body.parameters))
    if body.dry_run:
        answer = await run_in_threadpool(lambda: queries.dry_run(spec, user=user))
        message = "Query is valid" if answer["valid"] else "Query is invalid"
        return QueryAccepted(job_id=None, status="dry_run", message=message, **answer)
    # In the thread pool: submitting writes to SQLite, which may wait for a lock (then 503, DATABASE_BUSY), and the
    # event loop serves every other request, /health included, meanwhile.
    job = await run_in_threadpool(lambda: queries.submit(spec, user=user))
    if body.wait_ms and not JobStatus(job.status).finished:
        job = await queries.wait_async(job.job_id, body.wait_ms / 1000, user=user)
    if not (body.wait_ms and JobStatus(job.status).finished):
        return QueryAccepted(job_id=job.job_id, status=str(job.status), message="Query submitted",
                             estimated_completion_time=queries.estimated_completion(job))
    accepted = QueryAccepted(job_id=job.job_id, status=str(job.status), message="Query submitted")
    result = await finished_result(queries, job, 0, body.max_rows, user)
    # The page goes out as built: validating its rows through the response model would cost more than them.
    return FastJSONResponse({**accepted.model_dump(exclude={"result"}), "result": result})
