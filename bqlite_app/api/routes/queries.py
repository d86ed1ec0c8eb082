"""POST /queries: submit a job, or dry-run it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from bqlite_app.api.deps import CoreDep, CurrentUser
from bqlite_app.api.models import ERROR_RESPONSES, QueryAccepted, QueryCreate
from bqlite_app.queries import QuerySpec

router = APIRouter(tags=["queries"])


@router.post("/queries", response_model=QueryAccepted, response_model_exclude_none=False,
             responses=ERROR_RESPONSES)
async def submit_query(body: QueryCreate, core: CoreDep, user: CurrentUser) -> QueryAccepted:
    """Run SQL as an asynchronous job. SQL the engine rejects is not an HTTP error: the job ends `failed`.

    Every table the SQL reads or writes is checked against the caller's dataset grants first (403 `ACCESS_DENIED`
    naming the dataset and the role needed; no job is created).
    """
    queries = core.queries
    timeout = body.max_execution_time or core.settings.default_timeout_s
    spec = QuerySpec(sql=body.sql, engine=body.engine, priority=body.priority,
                     estimated_slots=body.estimated_slots, max_execution_time=timeout, labels=body.labels)
    if body.dry_run:
        answer = await run_in_threadpool(lambda: queries.dry_run(spec, user=user))
        message = "Query is valid" if answer["valid"] else "Query is invalid"
        return QueryAccepted(job_id=None, status="dry_run", message=message, **answer)
    # In the thread pool: submitting writes to SQLite, which may wait for a lock (then 503, DATABASE_BUSY), and the
    # event loop serves every other request, /health included, meanwhile.
    job = await run_in_threadpool(lambda: queries.submit(spec, user=user))
    return QueryAccepted(job_id=job.job_id, status=str(job.status), message="Query submitted",
                         estimated_completion_time=queries.estimated_completion(job))
