"""Google's resource shapes for jobs (``bigquery#job``), built from our job records, and the pieces the dataset and
table resources share.

Times are epoch milliseconds as strings; states are PENDING, RUNNING and DONE; a failed job carries
``status.errorResult`` with a reason the client maps (``invalidQuery``, ``stopped``, ``timeout``...).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from bqlite_app.bigquery.errors import error_result
from bqlite_app.bigquery.jobmeta import BigQueryJob
from bqlite_app.datasets import ANON_DATASET as ANON_DATASET  # re-exported: the face's modules import it here
from bqlite_app.jobs.models import Job, JobKind, JobStatus, valid_text

DEFAULT_LOCATION = "US"

_STATES = {JobStatus.QUEUED: "PENDING", JobStatus.RUNNING: "RUNNING", JobStatus.COMPLETED: "DONE",
           JobStatus.FAILED: "DONE", JobStatus.CANCELLED: "DONE"}


def epoch_ms(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(int(value.timestamp() * 1000))


def etag(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:22]


def display_fields(labels: dict[str, str], friendly_name: str | None) -> dict[str, Any]:
    """``labels`` and ``friendlyName`` of a dataset or table, each only when set, as BigQuery leaves them out."""
    fields: dict[str, Any] = {}
    if labels:
        fields["labels"] = dict(labels)
    if friendly_name is not None:
        fields["friendlyName"] = friendly_name
    return fields


def state_of(job: Job) -> str:
    return _STATES[JobStatus(job.status)]


def job_error(job: Job) -> dict[str, Any] | None:
    """``status.errorResult`` for a job that did not complete, with the reason BigQuery would give."""
    status = JobStatus(job.status)
    if status == JobStatus.CANCELLED:
        return error_result("stopped", job.error or "Job cancelled")
    if status != JobStatus.FAILED:
        return None
    message = valid_text(job.error or "Job failed")
    if "maximum execution time" in message:
        return error_result("timeout", message)
    if message.startswith(("internal error", "interrupted", "stopped by server")):
        return error_result("jobInternalError" if message.startswith("internal") else "stopped", message)
    # Errors raised by a job's own work (a load, a destination table) speak BigQuery's words.
    if message.startswith("Not found:"):
        return error_result("notFound", message)
    if message.startswith("Already Exists:"):
        return error_result("duplicate", message)
    return error_result("invalidQuery" if job.kind == JobKind.QUERY else "invalid", message)


def job_reference(job_id: str, project: str, location: str = DEFAULT_LOCATION) -> dict[str, str]:
    return {"projectId": project, "jobId": job_id, "location": location}


def anon_table(project: str, job_id: str) -> dict[str, str]:
    return {"projectId": project, "datasetId": ANON_DATASET, "tableId": job_id}


def job_resource(job: Job, meta: BigQueryJob | None, *, project: str, base_url: str,
                 dml_rows: int | None = None) -> dict[str, Any]:
    """The ``bigquery#job`` resource. Jobs submitted through our own API (no ``meta``) answer as query jobs of
    the project asked about, with their SQL as the query. ``dml_rows``: a finished DML statement's row count."""
    project = meta.project if meta is not None else project
    location = meta.location if meta is not None else DEFAULT_LOCATION
    # History may hold text that is not valid UTF-8 (lone surrogates, from before labels were checked).
    configuration = dict(meta.configuration) if meta is not None else {
        "query": {"query": valid_text(job.sql), "useLegacySql": False}, "jobType": "QUERY"}
    if job.labels:
        configuration["labels"] = {valid_text(k): valid_text(v) for k, v in job.labels.items()}
    if job.kind == JobKind.QUERY and "query" in configuration:
        query = dict(configuration["query"])
        if not query.get("destinationTable"):
            query["destinationTable"] = anon_table(project, job.job_id)
        configuration["query"] = query
    status: dict[str, Any] = {"state": state_of(job)}
    error = job_error(job)
    if error is not None:
        status["errorResult"] = error
        status["errors"] = [error]
    reference = job_reference(job.job_id, project, location)
    return {
        "kind": "bigquery#job",
        "etag": etag(job.job_id, str(job.status), job.completed_at),
        "id": f"{project}:{location}.{job.job_id}",
        "selfLink": f"{base_url}/projects/{project}/jobs/{job.job_id}?location={location}",
        "user_email": job.user,
        "principal_subject": f"user:{job.user}",
        "jobReference": reference,
        "configuration": configuration,
        "status": status,
        "statistics": _statistics(job, meta, dml_rows),
    }


def _statistics(job: Job, meta: BigQueryJob | None, dml_rows: int | None) -> dict[str, Any]:
    processed = str(job.bytes_processed or 0)
    statistics: dict[str, Any] = {"creationTime": epoch_ms(job.created_at), "totalBytesProcessed": processed}
    if job.started_at is not None:
        statistics["startTime"] = epoch_ms(job.started_at)
    if JobStatus(job.status).finished:
        statistics["endTime"] = epoch_ms(job.completed_at or job.created_at)
    if job.kind == JobKind.LOAD:
        statistics["load"] = {"outputRows": str(job.rows_returned or 0), "inputFiles": "1",
                              "inputFileBytes": processed, "badRecords": "0"}
    else:
        statistics["query"] = {"totalBytesProcessed": processed, "totalBytesBilled": processed,
                               "cacheHit": False, "statementType": meta.statement_type if meta else "SELECT"}
        if job.execution_time_ms is not None:
            statistics["query"]["totalSlotMs"] = str(job.execution_time_ms * job.estimated_slots)
        if dml_rows is not None:
            statistics["query"]["numDmlAffectedRows"] = str(dml_rows)
    return statistics
