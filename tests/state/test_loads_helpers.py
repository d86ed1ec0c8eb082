"""The pure helpers behind the Load data dialog: names offered and shown, refusals, errors, the form as a LoadSpec,
the inferred schema as rows, and a load job as the dialog's progress line."""

from __future__ import annotations

from typing import Any

from bqlite_app.errors import ValidationFailed
from bqlite_app.jobs.models import JobKind, JobPublic, JobStatus
from bqlite_app.state.load_form import (
    LoadForm,
    SchemaRow,
    error_of,
    flatten_fields,
    guess_format,
    job_view,
    refusal_lines,
    shown_name,
    table_name_for,
)


def _job(status: JobStatus, **fields: Any) -> JobPublic:
    base: dict[str, Any] = {
        "job_id": "job_1", "kind": JobKind.LOAD, "sql": "LOAD DATA INTO d.t", "engine": "duckdb", "status": status,
        "priority": 1, "estimated_slots": 1, "max_execution_time": 60, "created_at": "2026-01-01T00:00:00+00:00",
        "started_at": None, "completed_at": None, "execution_time_ms": None, "rows_returned": None,
        "bytes_processed": None, "error": None, "progress": None, "queue_position": None, "labels": {},
    }
    return JobPublic(**(base | fields))


def test_file_names_are_shown_safely_and_offer_a_table_name():
    assert shown_name("C:\\Users\\me\\trips 2024.csv") == "trips 2024.csv"
    assert shown_name("../../etc/pass<wd>") == "pass_wd_"
    assert shown_name("") == "upload"
    assert table_name_for("trips 2024.csv") == "trips_2024"
    assert table_name_for("2024-trips.csv") == "t_2024_trips"
    assert table_name_for("___.csv") == ""
    assert [guess_format(n) for n in ("a.CSV", "a.ndjson", "a.pq", "a.avro", "a.txt")] == [
        "CSV", "NEWLINE_DELIMITED_JSON", "PARQUET", "AVRO", None]


def test_refusals_and_errors_read_as_lines():
    rejected = [{"file": {"path": "/tmp/big.csv"}, "errors": [{"message": "File is larger than 10 MB"}]}]
    assert refusal_lines(rejected) == ["big.csv: File is larger than 10 MB"]
    assert refusal_lines([]) == ["The file was not accepted."]
    assert error_of(ValidationFailed("table: bad name")) == ("Invalid input", ["table: bad name"])
    assert error_of(ValueError("too large")) == ("Upload refused", ["too large"])
    assert error_of(OSError("line one\nline two")) == ("The file could not be read", ["OSError: line one"])


def test_the_form_becomes_a_load_spec():
    form = LoadForm(source_format="CSV", engine="duckdb", dataset="d", table="t", write_disposition="WRITE_TRUNCATE",
                    csv_header="no", file_name="t.csv")
    spec = form.spec()
    assert (spec.dataset, spec.table, spec.skip_leading_rows, spec.write_disposition) == ("d", "t", 0, "WRITE_TRUNCATE")
    assert form.spec(dataset="default", table="preview").destination == "default.preview"
    json_form = LoadForm(source_format="NEWLINE_DELIMITED_JSON", engine="duckdb", dataset="d", table="t",
                         write_disposition="WRITE_APPEND", csv_header="yes", file_name="t.json")
    assert json_form.spec().skip_leading_rows is None


def test_nested_fields_flatten_with_dotted_names():
    fields = [{"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
              {"name": "r", "type": "RECORD", "fields": [{"name": "v", "type": "FLOAT"}]}]
    assert flatten_fields(fields) == [SchemaRow("id", "INTEGER", "REQUIRED", 0),
                                      SchemaRow("r", "RECORD", "NULLABLE", 0), SchemaRow("r.v", "FLOAT", "NULLABLE", 1)]


def test_a_load_job_reads_as_a_progress_line():
    running = job_view(_job(JobStatus.RUNNING, started_at="2026-01-01T00:00:00+00:00", progress=0.42), "d.t (duckdb)")
    assert (running.status, running.percent, running.summary, running.error_title) == ("running", 42, "", "")
    assert job_view(_job(JobStatus.QUEUED), "d.t (duckdb)").percent == -1
    done = job_view(_job(JobStatus.COMPLETED, execution_time_ms=1500, rows_returned=1), "d.t (duckdb)")
    assert (done.percent, done.elapsed) == (100, "1.5 s")
    assert done.summary == "Loaded 1 row into d.t (duckdb) in 1.5 s."
    failed = job_view(_job(JobStatus.FAILED, error="Error while reading data:\n\nline 3: bad"), "d.t (duckdb)")
    assert failed.error_title == "The load failed"
    assert failed.error_detail == ["Error while reading data:", "line 3: bad"]
    assert job_view(_job(JobStatus.FAILED), "x").error_detail == ["The job failed without a message."]
    cancelled = job_view(_job(JobStatus.CANCELLED), "x")
    assert (cancelled.error_title, cancelled.error_detail) == ("The load was cancelled", ["Nothing was written."])
