"""Load jobs with their data: ``POST /upload/bigquery/v2/projects/{project}/jobs`` (multipart, or a resumable
session) and ``PUT`` of the session's chunks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from bqlite_app.bigquery import jobs_query, load_jobs
from bqlite_app.bigquery.auth import CoreDep, UserDep, rate_limited
from bqlite_app.bigquery.errors import invalid
from bqlite_app.bigquery.request import base_url, json_body
from bqlite_app.bigquery.resources import job_resource
from bqlite_app.bigquery.responses import GoogleJSON
from bqlite_app.bigquery.uploads import ResumableSessions, Upload, receive_multipart, uploads_dir
from bqlite_app.core import Core

router = APIRouter()


def _sessions(core: Core) -> ResumableSessions:
    return ResumableSessions(uploads_dir(core.settings.data_dir), core.settings.max_ingest_bytes)


@router.post("/projects/{project}/jobs", dependencies=[Depends(rate_limited)])
async def start_upload(project: str, request: Request, core: CoreDep, user: UserDep) -> Response:
    jobs_query.check_project(project)
    upload_type = request.query_params.get("uploadType")
    if upload_type == "multipart":
        upload = await receive_multipart(request.stream(), request.headers.get("content-type", ""),
                                         uploads_dir(core.settings.data_dir), core.settings.max_ingest_bytes)
        return await _submit(core, user, project, upload, request)
    if upload_type == "resumable":
        metadata = await json_body(request)
        load_jobs.check_metadata(metadata)  # a bad job resource fails now, not after the whole upload
        upload_id = await run_in_threadpool(_sessions(core).open, metadata, user)
        location = f"{base_url(request)}/projects/{project}/jobs?uploadType=resumable" \
                   f"&upload_id={upload_id}"
        return Response(status_code=200, headers={"Location": location})
    raise invalid("uploadType: use multipart or resumable", location="uploadType")


@router.put("/projects/{project}/jobs")
async def upload_chunk(project: str, request: Request, core: CoreDep, user: UserDep) -> Response:
    upload_id = request.query_params.get("upload_id", "")
    received, upload = await _sessions(core).put(upload_id, user, request.headers.get("content-range"),
                                                 request.stream())
    if upload is None:
        headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
        return Response(status_code=308, headers=headers)
    return await _submit(core, user, project, upload, request)


async def _submit(core: Core, user: UserDep, project: str, upload: Upload, request: Request) -> GoogleJSON:
    job, meta = await run_in_threadpool(load_jobs.submit, core, user, project, upload)
    return GoogleJSON(job_resource(job, meta, project=project, base_url=base_url(request)))
