"""Load jobs: BigQuery's ``configuration.load`` in our ``LoadSpec``, run by the core's load service as jobs of kind
``load``. Data comes from an upload (``load_table_from_file`` / ``_json``) or, for ``load_table_from_uri``, from a
``file://`` URI inside ``BQLITE_ALLOWED_DIRECTORIES`` (the sandbox's opt-in file reading; nothing else on the
server, and no network)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery.errors import BigQueryError, invalid
from bqlite_app.bigquery.jobmeta import BigQueryJob
from bqlite_app.bigquery.jobs_query import ENGINE_LABEL, engine_for, meta_store
from bqlite_app.bigquery.request import int_param, object_field, str_field
from bqlite_app.bigquery.resources import DEFAULT_LOCATION
from bqlite_app.bigquery.schema import fields_to_columns
from bqlite_app.bigquery.uploads import Upload, uploads_dir
from bqlite_app.core import Core
from bqlite_app.jobs.models import Job
from bqlite_app.jobs.service import validate_job_id
from bqlite_app.loads import LoadSpec, validate

_FORMATS = {"CSV": "CSV", "NEWLINE_DELIMITED_JSON": "NEWLINE_DELIMITED_JSON", "PARQUET": "PARQUET", "AVRO": "AVRO"}


def check_metadata(metadata: dict[str, Any]) -> None:
    """Fail a resumable session at its start when the job resource is already wrong."""
    load = object_field(object_field(metadata, "configuration"), "load")
    if not load:
        raise invalid("An upload carries a load job: configuration.load is missing", location="configuration.load")
    _spec(load, "duckdb")


def submit(core: Core, user: Principal, project: str, upload: Upload) -> tuple[Job, BigQueryJob]:
    """Queue the load of an uploaded file; the load service owns (and removes) the file from here on."""
    try:
        # The client sends no file name; the spool file's is ours and means nothing to the user.
        return _submit(core, user, project, upload.metadata, upload.path, "upload")
    except BaseException:
        upload.path.unlink(missing_ok=True)
        raise


def submit_from_uri(core: Core, user: Principal, project: str, body: dict[str, Any]) -> tuple[Job, BigQueryJob]:
    """``load_table_from_uri``: the files are copied into the upload spool first (the load service removes its
    source when the job ends, and the user's file must stay)."""
    load = object_field(object_field(body, "configuration"), "load")
    uris = load.get("sourceUris") or []
    if not isinstance(uris, list) or len(uris) != 1 or not isinstance(uris[0], str):
        raise invalid("sourceUris: give exactly one file:// URI", location="configuration.load.sourceUris")
    source = _allowed_file(core, uris[0])
    fd, name = tempfile.mkstemp(dir=uploads_dir(core.settings.data_dir), suffix=".uri")
    os.close(fd)
    copy = Path(name)
    try:
        shutil.copyfile(source, copy)
    except OSError as exc:
        copy.unlink(missing_ok=True)
        raise invalid(f"sourceUris: cannot read {uris[0]}: {exc.strerror}") from None
    try:
        return _submit(core, user, project, body, copy, source.name)
    except BaseException:
        copy.unlink(missing_ok=True)
        raise


def _submit(core: Core, user: Principal, project: str, metadata: dict[str, Any], path: Path,
            source_name: str) -> tuple[Job, BigQueryJob]:
    config = object_field(metadata, "configuration")
    reference = object_field(metadata, "jobReference")
    job_id = str_field(reference, "jobId")
    if job_id is not None:
        validate_job_id(job_id)
    load = object_field(config, "load")
    if not load:
        raise invalid("configuration.load is missing", location="configuration.load")
    labels = config.get("labels") or {}
    if not isinstance(labels, dict):
        raise invalid("configuration.labels: must be an object of strings", location="configuration.labels")
    engine = engine_for(core, labels)
    spec = _spec(load, engine)
    job = core.loads.submit(spec, path, user=user, job_id=job_id, source_name=source_name,
                            labels={str(k): str(v) for k, v in labels.items() if k != ENGINE_LABEL})
    config = {**config, "jobType": "LOAD"}
    meta = BigQueryJob(job_id=job.job_id, project=project, location=str_field(reference, "location")
                       or DEFAULT_LOCATION, configuration=config, statement_type="LOAD")
    meta_store(core).add(meta)
    return job, meta


def _spec(load: dict[str, Any], engine: str) -> LoadSpec:
    destination = object_field(load, "destinationTable")
    dataset, table = destination.get("datasetId"), destination.get("tableId")
    if not isinstance(dataset, str) or not isinstance(table, str):
        raise invalid("configuration.load.destinationTable needs datasetId and tableId",
                      location="configuration.load.destinationTable")
    source_format = str_field(load, "sourceFormat") or "CSV"
    if source_format not in _FORMATS:
        raise invalid(f"sourceFormat {source_format[:40]!r} is not supported; use CSV, NEWLINE_DELIMITED_JSON, "
                      "PARQUET or AVRO", location="configuration.load.sourceFormat")
    fields = object_field(load, "schema").get("fields")
    schema = tuple(fields_to_columns(fields)) if fields else None
    spec = LoadSpec(
        dataset=dataset, table=table, engine=engine, source_format=source_format,  # type: ignore[arg-type]
        schema=schema, autodetect=bool(load.get("autodetect", False)),
        write_disposition=str_field(load, "writeDisposition") or "WRITE_APPEND",  # type: ignore[arg-type]
        create_disposition=str_field(load, "createDisposition") or "CREATE_IF_NEEDED",  # type: ignore[arg-type]
        skip_leading_rows=int_param(load.get("skipLeadingRows"), "skipLeadingRows", default=-1, low=0,
                                    high=None) if load.get("skipLeadingRows") is not None else None,
        field_delimiter=str_field(load, "fieldDelimiter") or ",",
        quote=str_field(load, "quote", default='"') or "",
        allow_jagged_rows=bool(load.get("allowJaggedRows", False)),
        allow_quoted_newlines=bool(load.get("allowQuotedNewlines", False)),
        max_bad_records=int_param(load.get("maxBadRecords"), "maxBadRecords", default=0, low=0, high=None),
        ignore_unknown_values=bool(load.get("ignoreUnknownValues", False)),
        null_marker=str_field(load, "nullMarker"),
        encoding=str_field(load, "encoding") or "UTF-8",
    )
    validate(spec)
    return spec


def _allowed_file(core: Core, uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise invalid(f"sourceUris: {uri[:100]!r} is not reachable from this server; use an upload, or a file:// "
                      "URI inside BQLITE_ALLOWED_DIRECTORIES", location="configuration.load.sourceUris")
    path = Path(unquote(parsed.path)).resolve()
    for allowed in core.settings.allowed_directories:
        if path.is_relative_to(Path(allowed).resolve()) and path.is_file():
            return path
    # The same answer whether the file exists or not: no probing of the server's disk.
    raise BigQueryError(403, "accessDenied", f"sourceUris: {uri[:100]!r} is not a file inside "
                                             "BQLITE_ALLOWED_DIRECTORIES")
