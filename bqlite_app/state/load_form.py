"""What the "Load data" dialog asks for and shows: its options, the form as a ``LoadSpec``, the client's file name
made safe to show, the schema rows, refusals, and a load job as a progress line.

Plain values and pure functions (no core, no engine), so ``state/loads.py`` holds only the dialog's state and
``state/load_work.py`` only what runs on a worker thread.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from bqlite_app.errors import BqliteError
from bqlite_app.humanize import human_count, human_duration_ms
from bqlite_app.jobs.models import JobPublic, JobStatus
from bqlite_app.loads.spec import LoadSpec
from bqlite_app.state.display import error_lines, seconds_between

UPLOAD_ID = "load_data_file"
FORMATS: list[tuple[str, str]] = [("CSV", "CSV"), ("NEWLINE_DELIMITED_JSON", "JSON lines"), ("PARQUET", "Parquet"),
                                  ("AVRO", "Avro")]
DISPOSITIONS: list[tuple[str, str]] = [("WRITE_APPEND", "Append to the table"),
                                       ("WRITE_TRUNCATE", "Replace the table"),
                                       ("WRITE_EMPTY", "Only if the table is empty")]
HEADERS: list[tuple[str, str]] = [("auto", "Detect a header row"), ("yes", "First row is a header"),
                                  ("no", "No header row")]
SKIP_ROWS = {"auto": None, "yes": 1, "no": 0}
NEW_DATASET = "__new__"
# The phase line over the progress bar; "submitting" is the dialog's own, before a job exists.
JOB_PHASES = {"": "", "submitting": "Submitting…", "queued": "Waiting for a slot…", "running": "Loading…",
              "completed": "Loaded", "failed": "Failed", "cancelled": "Cancelled"}
_EXTENSIONS = {".csv": "CSV", ".json": "NEWLINE_DELIMITED_JSON", ".jsonl": "NEWLINE_DELIMITED_JSON",
               ".ndjson": "NEWLINE_DELIMITED_JSON", ".parquet": "PARQUET", ".pq": "PARQUET", ".avro": "AVRO"}
_SHOWN_NAME = re.compile(r"[^\w .@+()-]")
_TABLE_CHARS = re.compile(r"[^A-Za-z0-9_]")


@dataclasses.dataclass(frozen=True)
class SchemaRow:
    name: str = ""          # dotted for fields nested in a RECORD
    type: str = ""
    mode: str = ""
    depth: int = 0


@dataclasses.dataclass(frozen=True)
class PreviewData:
    fields: list[SchemaRow]
    headers: list[str]
    rows: list[list[str]]
    note: str


@dataclasses.dataclass(frozen=True)
class LoadForm:
    """What the dialog asks for, read under the state's lock and handed to a worker thread."""

    source_format: str
    engine: str
    dataset: str
    table: str
    write_disposition: str
    csv_header: str
    file_name: str

    def spec(self, *, dataset: str | None = None, table: str | None = None) -> LoadSpec:
        return LoadSpec(
            dataset=self.dataset if dataset is None else dataset, table=self.table if table is None else table,
            engine=self.engine, source_format=self.source_format,  # type: ignore[arg-type]  (validated by the spec)
            autodetect=True, write_disposition=self.write_disposition,  # type: ignore[arg-type]
            skip_leading_rows=SKIP_ROWS.get(self.csv_header) if self.source_format == "CSV" else None,
        )


@dataclasses.dataclass(frozen=True)
class JobView:
    """A load job as the dialog shows it; ``error_title`` is empty unless the job failed or was cancelled."""

    status: str
    percent: int                # -1: no bar of known length
    elapsed: str
    summary: str = ""
    error_title: str = ""
    error_detail: list[str] = dataclasses.field(default_factory=list)


def guess_format(file_name: str) -> str | None:
    return _EXTENSIONS.get(Path(file_name).suffix.lower())


def shown_name(file_name: str) -> str:
    """The client's file name as text to show (never a path): its last segment, odd characters replaced."""
    base = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    return _SHOWN_NAME.sub("_", base)[:120] or "upload"


def table_name_for(file_name: str) -> str:
    """A table name offered for a file: its stem in letters, digits and underscores, never starting with a digit."""
    stem = _TABLE_CHARS.sub("_", Path(file_name).stem)[:100].strip("_")
    return stem if stem and not stem[0].isdigit() else f"t_{stem}" if stem else ""


def refusal_lines(rejected: list[dict[str, Any]]) -> list[str]:
    """react-dropzone's refusals (a file over the size limit), one line per file, at most three."""
    messages = []
    for item in rejected[:3]:
        errors = item.get("errors") or []
        text = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict)) or "not accepted"
        messages.append(f"{shown_name(str((item.get('file') or {}).get('path') or 'file'))}: {text}")
    return messages or ["The file was not accepted."]


def error_of(exc: BaseException) -> tuple[str, list[str]]:
    """A title and detail lines for what went wrong before or around a load job."""
    if isinstance(exc, BqliteError):
        return error_lines(exc)
    if isinstance(exc, ValueError):
        return "Upload refused", [str(exc)]
    # Not ours: pyarrow on a file that is not what it claims to be, an engine hiccup.
    return "The file could not be read", [f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]]


def flatten_fields(fields: list[dict[str, Any]], prefix: str = "", depth: int = 0) -> list[SchemaRow]:
    """BigQuery schema fields as table rows, a RECORD's fields after it with dotted names."""
    rows: list[SchemaRow] = []
    for field in fields:
        name = f"{prefix}{field['name']}"
        rows.append(SchemaRow(name=name, type=str(field.get("type", "")), mode=str(field.get("mode", "NULLABLE")),
                              depth=depth))
        rows.extend(flatten_fields(field.get("fields") or [], f"{name}.", depth + 1))
    return rows


def job_view(job: JobPublic, destination: str) -> JobView:
    """``job`` as the dialog's progress line; ``destination`` names the table in the summary."""
    status = JobStatus(job.status)
    if status == JobStatus.RUNNING and job.progress is not None:
        percent = round(100 * float(job.progress))
    else:
        percent = 100 if status == JobStatus.COMPLETED else -1
    if status == JobStatus.QUEUED:
        elapsed = human_duration_ms(1000 * (seconds_between(job.created_at, None) or 0))
    elif status == JobStatus.RUNNING:
        elapsed = human_duration_ms(1000 * (seconds_between(job.started_at, None) or 0))
    else:
        elapsed = human_duration_ms(job.execution_time_ms)
    view = JobView(status=status.value, percent=percent, elapsed=elapsed)
    if status == JobStatus.COMPLETED:
        rows = job.rows_returned or 0
        summary = f"Loaded {human_count(rows)} row{'s' if rows != 1 else ''} into {destination} in {elapsed}."
        return dataclasses.replace(view, summary=summary)
    if status == JobStatus.FAILED:
        detail = [line for line in str(job.error or "").splitlines() if line.strip()]
        return dataclasses.replace(view, error_title="The load failed",
                                   error_detail=detail or ["The job failed without a message."])
    if status == JobStatus.CANCELLED:
        return dataclasses.replace(view, error_title="The load was cancelled", error_detail=["Nothing was written."])
    return view
