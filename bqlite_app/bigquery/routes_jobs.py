"""jobs.insert, jobs.query, jobs.getQueryResults, jobs.get, jobs.list and jobs.cancel.

A BigQuery query job is an ordinary job of our core (scheduler, limits, cancel, history, audit): its GoogleSQL is
translated for the engine first, and its configuration is kept beside it (``jobmeta``) to be echoed back.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from bqlite_app.bigquery import jobs_query, load_jobs
from bqlite_app.bigquery.auth import CoreDep, UserDep, rate_limited
from bqlite_app.bigquery.errors import BigQueryError, invalid
from bqlite_app.bigquery.paging import DEFAULT_PAGE_ROWS, MAX_PAGE_ROWS, decode_page_token, encode_page_token
from bqlite_app.bigquery.request import base_url, int_param, json_body, object_field
from bqlite_app.bigquery.resources import job_reference, job_resource
from bqlite_app.bigquery.responses import GoogleJSON
from bqlite_app.bigquery.rows import arrow_to_rows
from bqlite_app.bigquery.schema_arrow import arrow_to_fields
from bqlite_app.errors import JobAlreadyFinished
from bqlite_app.jobs.models import Job, JobStatus

router = APIRouter()

# getQueryResults waits at most this long per call (BigQuery's own default is 10 s); the client polls again.
DEFAULT_WAIT_MS = 10_000
MAX_WAIT_MS = 60_000


def _meta(request: Request) -> jobs_query.JobMetaStore:
    return jobs_query.meta_store(request.app.state.core)


@router.post("/projects/{project}/jobs", dependencies=[Depends(rate_limited)])
async def insert_job(project: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    """jobs.insert: returns at once with the job resource; the query runs as a job."""
    body = await json_body(request)
    jobs_query.check_project(project)
    is_load = "load" in object_field(body, "configuration")
    submit = load_jobs.submit_from_uri if is_load else jobs_query.insert
    job, meta = await run_in_threadpool(submit, core, user, project, body)
    return GoogleJSON(job_resource(job, meta, project=project, base_url=base_url(request)))


@router.post("/projects/{project}/queries", dependencies=[Depends(rate_limited)])
async def query(project: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    """jobs.query: submit, wait up to ``timeoutMs``, and answer with the first page when the job is done."""
    body = await json_body(request)
    jobs_query.check_project(project)
    wait_ms = int_param(body.get("timeoutMs"), "timeoutMs", default=DEFAULT_WAIT_MS, low=0, high=None)
    max_rows = int_param(body.get("maxResults"), "maxResults", default=DEFAULT_PAGE_ROWS, low=0, high=None)
    int64_ts = bool(object_field(body, "formatOptions").get("useInt64Timestamp", False))
    if body.get("dryRun"):
        answer = await run_in_threadpool(jobs_query.dry_run_query, core, user, project, body)
        return GoogleJSON({"kind": "bigquery#queryResponse", "jobComplete": True, "totalRows": "0",
                           "rows": [], **answer})
    config = {"query": {key: value for key, value in body.items()
                        if key not in ("timeoutMs", "maxResults", "formatOptions", "location", "requestId",
                                       "kind", "jobCreationMode", "labels", "dryRun")},
              "labels": body.get("labels") or {}}
    request_body = {"configuration": config, "jobReference": {"location": body.get("location")}}
    job, _meta_row = await run_in_threadpool(jobs_query.insert, core, user, project, request_body)
    job = await _wait(core, job, wait_ms, user)
    answer = await run_in_threadpool(_results, core, user, job, project, 0, max_rows, int64_ts)
    return GoogleJSON({"kind": "bigquery#queryResponse", **answer})


@router.get("/projects/{project}/queries/{job_id}")
async def get_query_results(project: str, job_id: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    """jobs.getQueryResults. While waiting the client asks with ``maxResults=0``: ``schema`` and ``totalRows``
    must still come back (without ``totalRows`` it takes the query for DDL). A failed job is an HTTP error here,
    as BigQuery answers it."""
    params = request.query_params
    wait_ms = int_param(params.get("timeoutMs"), "timeoutMs", default=DEFAULT_WAIT_MS, low=0, high=None)
    max_rows = int_param(params.get("maxResults"), "maxResults", default=DEFAULT_PAGE_ROWS, low=0, high=None)
    start = int_param(params.get("startIndex"), "startIndex", default=0, low=0, high=None)
    if params.get("pageToken"):
        start = decode_page_token(params["pageToken"])
    int64_ts = params.get("formatOptions.useInt64Timestamp", "false").lower() == "true"
    job = await run_in_threadpool(core.queries.get, job_id, user=user)
    job = await _wait(core, job, wait_ms, user)
    answer = await run_in_threadpool(_results, core, user, job, project, start, max_rows, int64_ts)
    return GoogleJSON({"kind": "bigquery#getQueryResultsResponse", "etag": job.job_id, **answer})


@router.get("/projects/{project}/jobs/{job_id}")
async def get_job(project: str, job_id: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    job = await run_in_threadpool(core.queries.get, job_id, user=user)
    meta = await run_in_threadpool(_meta(request).get, job_id)
    dml_rows = None
    if meta is not None and meta.statement_type in jobs_query.DML_TYPES and job.status == JobStatus.COMPLETED:
        dml_rows = await run_in_threadpool(jobs_query.dml_affected_rows, core, job, user)
    return GoogleJSON(job_resource(job, meta, project=project, base_url=base_url(request), dml_rows=dml_rows))


@router.post("/projects/{project}/jobs/{job_id}/cancel")
async def cancel_job(project: str, job_id: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    """jobs.cancel answers ``{"job": ...}``. Cancelling a finished job is no error in BigQuery: it answers the job."""
    try:
        job = await run_in_threadpool(core.queries.cancel, job_id, user=user)
    except JobAlreadyFinished:
        job = await run_in_threadpool(core.queries.get, job_id, user=user)
    meta = await run_in_threadpool(_meta(request).get, job_id)
    return GoogleJSON({"kind": "bigquery#jobCancelResponse",
                       "job": job_resource(job, meta, project=project, base_url=base_url(request))})


@router.get("/projects/{project}/jobs")
async def list_jobs(project: str, request: Request, core: CoreDep, user: UserDep) -> GoogleJSON:
    """jobs.list, newest first. ``allUsers`` lists everyone's jobs for admins (BigQuery: project owners)."""
    params = request.query_params
    limit = int_param(params.get("maxResults"), "maxResults", default=50, low=1, high=1000)
    offset = decode_page_token(params["pageToken"]) if params.get("pageToken") else 0
    states = {s.lower() for s in params.getlist("stateFilter")}
    unknown = states - {"done", "pending", "running"}
    if unknown:
        raise invalid(f"stateFilter: unknown state {sorted(unknown)[0]!r}; use done, pending or running",
                      location="stateFilter")
    if params.get("allUsers", "false").lower() == "true" and not user.is_admin:
        raise BigQueryError(403, "accessDenied", "allUsers needs the admin role")
    jobs, total = await run_in_threadpool(_list, core, user, states, limit, offset)
    metas = await run_in_threadpool(_meta(request).get_many, [job.job_id for job in jobs])
    root = base_url(request)
    items = []
    for job in jobs:
        resource = job_resource(job, metas.get(job.job_id), project=project, base_url=root)
        resource["state"] = resource["status"]["state"]
        if "errorResult" in resource["status"]:
            resource["errorResult"] = resource["status"]["errorResult"]
        items.append(resource)
    answer: dict[str, Any] = {"kind": "bigquery#jobList", "etag": str(total), "jobs": items}
    if offset + len(jobs) < total:
        answer["nextPageToken"] = encode_page_token(offset + len(jobs))
    return GoogleJSON(answer)


def _list(core: Any, user: Any, states: set[str], limit: int, offset: int) -> tuple[list[Job], int]:
    # Each BigQuery state is one or more of ours; one state maps to one store filter, several are merged here.
    statuses = {"pending": ["queued"], "running": ["running"], "done": ["completed", "failed", "cancelled"]}
    wanted = [status for state in sorted(states) for status in statuses[state]]
    if len(wanted) == 1:
        return core.queries.list(user=user, status=wanted[0], limit=limit, offset=offset)
    jobs, total = core.queries.list(user=user, limit=min(1000, offset + limit) if wanted else limit,
                                    offset=0 if wanted else offset)
    if not wanted:
        return jobs, total
    kept = [job for job in jobs if str(job.status) in wanted]
    return kept[offset:offset + limit], len(kept)


async def _wait(core: Any, job: Job, wait_ms: int, user: Any) -> Job:
    if wait_ms and not JobStatus(job.status).finished:
        job = await core.queries.wait_async(job.job_id, min(wait_ms, MAX_WAIT_MS) / 1000, user=user)
    return job


def _results(core: Any, user: Any, job: Job, project: str, start: int, max_rows: int,
             int64_ts: bool) -> dict[str, Any]:
    """The shared body of jobs.query and getQueryResults: schema, totalRows and one page of f/v rows."""
    meta = jobs_query.meta_store(core).get(job.job_id)
    location = meta.location if meta is not None else "US"
    answer: dict[str, Any] = {"jobReference": job_reference(job.job_id, project, location),
                              "jobComplete": JobStatus(job.status).finished}
    if not answer["jobComplete"]:
        return answer
    if job.status != JobStatus.COMPLETED:
        raise jobs_query.job_failure(job)
    statement_type = meta.statement_type if meta is not None else "SELECT"
    answer["totalBytesProcessed"] = str(job.bytes_processed or 0)
    answer["cacheHit"] = False
    if statement_type in jobs_query.DML_TYPES:
        answer["numDmlAffectedRows"] = str(jobs_query.dml_affected_rows(core, job, user))
    page = core.queries.page(job, offset=start, limit=min(max_rows, MAX_PAGE_ROWS), user=user, past_end=True)
    answer["schema"] = {"fields": arrow_to_fields(page.table.schema)}
    answer["totalRows"] = str(page.total_rows)
    answer["rows"] = arrow_to_rows(page.table, int64_timestamps=int64_ts)
    # Also with maxResults=0 (the client's wait): the token tells it rows remain, so it pages instead of
    # taking the empty first page for the whole result.
    following = start + page.table.num_rows
    if following < page.total_rows:
        answer["pageToken"] = encode_page_token(following)
    return answer
