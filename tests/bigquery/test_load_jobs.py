"""Load jobs through the real client: load_table_from_file (multipart and resumable uploads), _json and _uri, in
every format, with autodetect, dispositions, bad records, and the jobs showing in our history as kind "load"."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.api_core import exceptions
from google.cloud import bigquery
from google.cloud.bigquery import client as client_module

CSV = b"id,name,score\n1,ada,9.5\n2,grace,8.25\n3,linus,\n"


def _rows(bq: bigquery.Client, table: str) -> list[dict]:
    return [dict(row) for row in bq.query_and_wait(f"SELECT * FROM `{table}` ORDER BY id")]


def _csv_config(**extra) -> bigquery.LoadJobConfig:
    return bigquery.LoadJobConfig(source_format="CSV", skip_leading_rows=1, autodetect=True, **extra)


def test_csv_upload_with_autodetect(bq: bigquery.Client, dataset_id: str, client) -> None:
    job = bq.load_table_from_file(io.BytesIO(CSV), f"{dataset_id}.people", job_config=_csv_config())
    job.result()
    assert job.output_rows == 3
    assert _rows(bq, f"{dataset_id}.people") == [
        {"id": 1, "name": "ada", "score": 9.5}, {"id": 2, "name": "grace", "score": 8.25},
        {"id": 3, "name": "linus", "score": None}]
    ours = client.get(f"/jobs/{job.job_id}").json()
    assert ours["kind"] == "load" and ours["status"] == "completed"
    assert ours["sql"] == f"LOAD DATA INTO {dataset_id}.people FROM FILES (format = 'CSV', uris = ['upload'])"
    assert bq.get_job(job.job_id).job_type == "load"


def test_resumable_upload_in_several_chunks(bq: bigquery.Client, dataset_id: str, monkeypatch) -> None:
    # The client switches to a resumable session for files without a known size; chunks of 256 KiB (its minimum
    # granularity) make this ~1.5 MB file arrive as several PUTs with Content-Range.
    monkeypatch.setattr(client_module, "_DEFAULT_CHUNKSIZE", 256 * 1024)
    lines = b"".join(json.dumps({"id": i, "text": "x" * 40, "tags": ["a", str(i)]}).encode() + b"\n"
                     for i in range(25_000))
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON", autodetect=True)
    job = bq.load_table_from_file(io.BytesIO(lines), f"{dataset_id}.big", job_config=config, size=None)
    job.result()
    table = bq.get_table(f"{dataset_id}.big")
    assert table.num_rows == 25_000
    tags = next(field for field in table.schema if field.name == "tags")
    assert tags.mode == "REPEATED"


def test_load_table_from_json_with_nested_records(bq: bigquery.Client, dataset_id: str) -> None:
    rows = [{"id": 1, "who": {"name": "ada", "langs": ["en", "fr"]}}, {"id": 2, "who": {"name": "bob", "langs": []}}]
    job = bq.load_table_from_json(rows, f"{dataset_id}.nested")
    job.result()
    table = bq.get_table(f"{dataset_id}.nested")
    who = next(field for field in table.schema if field.name == "who")
    assert who.field_type == "RECORD"
    assert _rows(bq, f"{dataset_id}.nested")[0]["who"] == {"name": "ada", "langs": ["en", "fr"]}


def test_parquet_and_avro_keep_their_schema(bq: bigquery.Client, dataset_id: str, tmp_path: Path) -> None:
    data = pa.table({"id": pa.array([1, 2], pa.int64()), "ok": [True, False]})
    parquet = tmp_path / "rows.parquet"
    pq.write_table(data, parquet)
    with parquet.open("rb") as handle:
        bq.load_table_from_file(handle, f"{dataset_id}.from_parquet",
                                job_config=bigquery.LoadJobConfig(source_format="PARQUET")).result()
    assert _rows(bq, f"{dataset_id}.from_parquet") == [{"id": 1, "ok": True}, {"id": 2, "ok": False}]

    avro = io.BytesIO()
    schema = {"type": "record", "name": "r", "fields": [{"name": "id", "type": "long"},
                                                       {"name": "name", "type": "string"}]}
    fastavro.writer(avro, schema, [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}])
    avro.seek(0)
    bq.load_table_from_file(avro, f"{dataset_id}.from_avro",
                            job_config=bigquery.LoadJobConfig(source_format="AVRO")).result()
    assert _rows(bq, f"{dataset_id}.from_avro") == [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}]


def test_write_dispositions(bq: bigquery.Client, dataset_id: str) -> None:
    table = f"{dataset_id}.dispositions"
    bq.load_table_from_file(io.BytesIO(CSV), table, job_config=_csv_config()).result()
    bq.load_table_from_file(io.BytesIO(CSV), table, job_config=_csv_config(write_disposition="WRITE_APPEND")).result()
    assert len(_rows(bq, table)) == 6
    bq.load_table_from_file(io.BytesIO(CSV), table,
                            job_config=_csv_config(write_disposition="WRITE_TRUNCATE")).result()
    assert len(_rows(bq, table)) == 3
    with pytest.raises(exceptions.GoogleAPICallError):
        bq.load_table_from_file(io.BytesIO(CSV), table,
                                job_config=_csv_config(write_disposition="WRITE_EMPTY")).result()
    assert len(_rows(bq, table)) == 3


def test_bad_records_fail_the_load_and_leave_the_table_as_it_was(bq: bigquery.Client, dataset_id: str) -> None:
    table = f"{dataset_id}.strict"
    bq.load_table_from_file(io.BytesIO(CSV), table, job_config=_csv_config()).result()
    bad = b"id,name,score\n4,eve,1.0\nnot-a-number,mallory,2.0\n"
    job = bq.load_table_from_file(io.BytesIO(bad), table,
                                  job_config=bigquery.LoadJobConfig(source_format="CSV", skip_leading_rows=1))
    with pytest.raises(exceptions.GoogleAPICallError):
        job.result()
    assert job.error_result is not None
    assert len(_rows(bq, table)) == 3            # all or nothing: eve did not land either

    tolerant = bigquery.LoadJobConfig(source_format="CSV", skip_leading_rows=1, max_bad_records=1)
    bq.load_table_from_file(io.BytesIO(bad), table, job_config=tolerant).result()
    assert [row["name"] for row in _rows(bq, table)][-1] == "eve"


def test_load_from_uri_reads_only_allowed_directories(bq: bigquery.Client, dataset_id: str) -> None:
    config = _csv_config()
    with pytest.raises(exceptions.BadRequest):
        bq.load_table_from_uri("gs://bucket/file.csv", f"{dataset_id}.remote", job_config=config).result()
    with pytest.raises((exceptions.Forbidden, exceptions.BadRequest)):
        bq.load_table_from_uri("file:///etc/passwd", f"{dataset_id}.passwd", job_config=config).result()


def test_a_bad_load_configuration_is_invalid(bq: bigquery.Client, dataset_id: str) -> None:
    with pytest.raises(exceptions.BadRequest):
        bq.load_table_from_file(io.BytesIO(CSV), f"{dataset_id}.x",
                                job_config=bigquery.LoadJobConfig(source_format="ORC")).result()
    with pytest.raises(exceptions.BadRequest):
        bq.load_table_from_file(io.BytesIO(CSV), f"{dataset_id}.bad name",
                                job_config=_csv_config()).result()
