"""From a BigQuery job configuration to a job of our core: engine choice, GoogleSQL translation, parameters,
priority, time limit, labels, destination table and dry runs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery import per_core
from bqlite_app.bigquery.errors import BigQueryError, invalid
from bqlite_app.bigquery.jobmeta import BigQueryJob, JobMetaStore
from bqlite_app.bigquery.request import object_field, str_field
from bqlite_app.bigquery.resources import DEFAULT_LOCATION, job_error
from bqlite_app.bigquery.sql import translate
from bqlite_app.core import Core
from bqlite_app.jobs.models import Job, JobStatus, new_job_id
from bqlite_app.jobs.params import from_bigquery
from bqlite_app.jobs.service import QuerySpec, validate_job_id
from bqlite_app.loads import LoadSpec

# A job label that picks the engine for one job, overriding BQLITE_BIGQUERY_ENGINE.
ENGINE_LABEL = "bqlite-engine"
DML_TYPES = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})
# BigQuery's project ids are 6-30 characters; we accept any id of that alphabet so local names keep working.
_PROJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

def meta_store(core: Core) -> JobMetaStore:
    return per_core.store(core, JobMetaStore)


def check_project(project: str) -> None:
    if not _PROJECT.fullmatch(project):
        raise invalid(f"Invalid project ID {project[:64]!r}", location="projectId")


def insert(core: Core, user: Principal, project: str, body: dict[str, Any]) -> tuple[Job, BigQueryJob]:
    """jobs.insert for a query job. A dry run creates no job: it answers a finished job that was never stored."""
    config = object_field(body, "configuration")
    reference = object_field(body, "jobReference")
    job_id = str_field(reference, "jobId")
    if job_id is not None:
        validate_job_id(job_id)
    location = str_field(reference, "location") or DEFAULT_LOCATION
    if "query" not in config:
        kinds = sorted(set(config) & {"copy", "extract"})
        raise invalid(f"Only query and load jobs are supported{f', not {kinds[0]}' if kinds else ''}",
                      location="configuration")
    query_config = object_field(config, "query")
    sql = str_field(query_config, "query")
    if not sql or not sql.strip():
        raise invalid("configuration.query.query: the query is empty", location="configuration.query.query")
    if query_config.get("useLegacySql") is True:
        raise invalid("Legacy SQL is not supported: set useLegacySql to false (GoogleSQL)",
                      location="configuration.query.useLegacySql")
    labels = config.get("labels") or {}
    if not isinstance(labels, dict):
        raise invalid("configuration.labels: must be an object of strings", location="configuration.labels")
    engine = engine_for(core, labels)
    spec = _spec(config, query_config, sql, engine, labels)
    meta = BigQueryJob(job_id=job_id or new_job_id(), project=project, location=location,
                       configuration=_echo(config), statement_type=statement_type(sql))
    if config.get("dryRun"):
        return _dry_run_job(core, user, spec, meta), meta
    after = _destination_writer(core, user, query_config, engine)
    if after is not None:
        meta.destination = f"{after.spec.dataset}.{after.spec.table}"
    job = core.queries.submit(spec, user=user, job_id=job_id, after=after)
    meta.job_id = job.job_id
    meta_store(core).add(meta)
    return job, meta


def dry_run_query(core: Core, user: Principal, project: str, body: dict[str, Any]) -> dict[str, Any]:
    """jobs.query with ``dryRun``: the estimate, and no job."""
    sql = str_field(body, "query")
    if not sql or not sql.strip():
        raise invalid("query: the query is empty", location="query")
    labels = body.get("labels") or {}
    engine = engine_for(core, labels if isinstance(labels, dict) else {})
    spec = _spec({}, body, sql, engine, {})
    estimate = core.queries.dry_run(spec, user=user)
    if not estimate["valid"]:
        raise BigQueryError(400, "invalidQuery", estimate.get("error") or "Invalid query")
    return {"totalBytesProcessed": str(estimate["estimated_bytes_processed"])}


def engine_for(core: Core, labels: dict[str, Any]) -> str:
    engine = labels.get(ENGINE_LABEL) or core.settings.bigquery_engine
    if engine not in core.engines:
        raise invalid(f"Label {ENGINE_LABEL}: unknown engine {str(engine)[:40]!r}; use "
                      f"{' or '.join(sorted(core.engines))}", location=f"labels.{ENGINE_LABEL}")
    return engine


def job_failure(job: Job) -> BigQueryError:
    """A failed or cancelled job, as getQueryResults reports it: an HTTP error with the job's reason."""
    error = job_error(job) or {"reason": "invalid", "message": "Job did not complete"}
    return BigQueryError(_FAILURE_STATUS.get(error["reason"], 400), error["reason"], error["message"])


# The HTTP status each job failure reason answers with (the client picks its exception class from it).
_FAILURE_STATUS = {"notFound": 404, "duplicate": 409, "accessDenied": 403}


def dml_affected_rows(core: Core, job: Job, user: Principal) -> int:
    """DuckDB answers a DML statement with one ``Count`` row; ClickHouse answers nothing (0)."""
    page = core.queries.page(job, offset=0, limit=1, user=user)
    if page.table.num_rows == 1 and page.table.num_columns == 1:
        value = page.table.column(0)[0].as_py()
        if isinstance(value, int):
            return value
    return 0


def statement_type(sql: str) -> str:
    """BigQuery's ``statementType`` for the client (DML answers ``numDmlAffectedRows``; DDL has no rows)."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except sqlglot.errors.SqlglotError:
        return "SELECT"  # the translator reports the syntax error itself
    if len(statements) != 1:
        return "SCRIPT"
    node = statements[0]
    simple = {exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE", exp.Merge: "MERGE",
              exp.Alter: "ALTER_TABLE", exp.TruncateTable: "TRUNCATE_TABLE"}
    for cls, name in simple.items():
        if isinstance(node, cls):
            return name
    if isinstance(node, exp.Create | exp.Drop):
        kind = str(node.args.get("kind") or "TABLE").upper()
        verb = "CREATE" if isinstance(node, exp.Create) else "DROP"
        if verb == "CREATE" and kind == "TABLE" and node.expression is not None:
            return "CREATE_TABLE_AS_SELECT"
        return f"{verb}_{kind}"
    return "SELECT"


def _spec(config: dict[str, Any], query_config: dict[str, Any], sql: str, engine: str,
          labels: dict[str, Any]) -> QuerySpec:
    parameters = from_bigquery(query_config.get("queryParameters"), query_config.get("parameterMode"))
    default = object_field(query_config, "defaultDataset").get("datasetId")
    engine_sql = translate(sql, engine=engine, parameters=parameters, default_dataset=default)
    timeout_ms = config.get("jobTimeoutMs")
    timeout: int | None = None   # the core's default (BQLITE_DEFAULT_TIMEOUT_S)
    if timeout_ms not in (None, ""):
        try:
            timeout = max(1, math.ceil(int(timeout_ms) / 1000))
        except (TypeError, ValueError):
            raise invalid("configuration.jobTimeoutMs: must be an integer", location="jobTimeoutMs") from None
    priority = 5 if query_config.get("priority") == "BATCH" else 1
    return QuerySpec(sql=engine_sql, engine=engine, priority=priority, max_execution_time=timeout,
                     labels={str(k): str(v) for k, v in labels.items()}, parameters=tuple(parameters))


@dataclass(frozen=True)
class _DestinationWriter:
    """``destinationTable``: once the query's result is stored, it is written into the table with the job's
    dispositions, all or nothing (the core's load machinery), before the job counts as done."""

    core: Core
    spec: LoadSpec

    def __call__(self, job: Job) -> None:
        results = self.core.results
        assert results is not None
        self.core.loads.write_result(self.spec, results.schema(job.job_id), results.iter_batches(job.job_id),
                                     tag=job.job_id)


def _destination_writer(core: Core, user: Principal, query_config: dict[str, Any],
                        engine: str) -> _DestinationWriter | None:
    destination = object_field(query_config, "destinationTable")
    if not destination:
        return None
    dataset, table = destination.get("datasetId"), destination.get("tableId")
    if not isinstance(dataset, str) or not isinstance(table, str):
        raise invalid("destinationTable needs datasetId and tableId", location="configuration.query.destinationTable")
    spec = LoadSpec(dataset=dataset, table=table, engine=engine,
                    write_disposition=str_field(query_config, "writeDisposition") or "WRITE_EMPTY",  # type: ignore[arg-type]
                    create_disposition=str_field(query_config, "createDisposition")  # type: ignore[arg-type]
                    or "CREATE_IF_NEEDED")
    core.loads.check_destination(spec, user=user)  # grants and dispositions answer now, not when the job ends
    return _DestinationWriter(core, spec)


def _dry_run_job(core: Core, user: Principal, spec: QuerySpec, meta: BigQueryJob) -> Job:
    estimate = core.queries.dry_run(spec, user=user)
    if not estimate["valid"]:
        raise BigQueryError(400, "invalidQuery", estimate.get("error") or "Invalid query")
    job = Job(job_id=meta.job_id, sql=spec.sql, engine=spec.engine, labels=dict(spec.labels), user=user.username,
              max_execution_time=spec.max_execution_time or core.settings.default_timeout_s,
              status=JobStatus.COMPLETED, bytes_processed=estimate["estimated_bytes_processed"])
    job.completed_at = job.created_at
    return job


def _echo(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration as the client sent it, with the job type Google adds."""
    echoed = dict(config)
    echoed.setdefault("jobType", "QUERY")
    echoed.setdefault("dryRun", False)
    return echoed
