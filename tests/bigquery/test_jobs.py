"""Query jobs through the real google-cloud-bigquery client: query, query_and_wait, QueryJob.result, get/list/cancel
jobs, dry runs, parameters, paging, errors, and the jobs showing in our own history."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

from tests.conftest import SAMPLE_ROWS

# Runs until cancelled: a three-way cross join of the sample (1.25e14 rows) with a filter nothing optimises away.
ENDLESS = ("SELECT COUNT(*) AS n FROM nyc_taxi AS a CROSS JOIN nyc_taxi AS b CROSS JOIN nyc_taxi AS c "
           "WHERE a.trip_distance + b.trip_distance + c.trip_distance > -1")


def test_query_and_wait_answers_the_sample(bq: bigquery.Client) -> None:
    rows = list(bq.query_and_wait("SELECT COUNT(*) AS n, MIN(passenger_count) AS low FROM nyc_taxi"))
    assert rows[0]["n"] == SAMPLE_ROWS
    assert isinstance(rows[0]["low"], int)


def test_query_job_result_shows_in_our_history(bq: bigquery.Client, client) -> None:
    job_id = f"client_{uuid.uuid4().hex}"
    job = bq.query("SELECT VendorID, COUNT(*) AS trips FROM nyc_taxi GROUP BY VendorID ORDER BY VendorID",
                   job_id=job_id, job_retry=None)
    assert job.job_id == job_id
    rows = list(job.result())
    assert sum(row["trips"] for row in rows) == SAMPLE_ROWS
    assert job.state == "DONE" and job.error_result is None
    assert job.total_bytes_processed is not None and job.ended is not None

    ours = client.get(f"/jobs/{job_id}").json()
    assert ours["status"] == "completed" and ours["kind"] == "query" and ours["engine"] == "duckdb"
    assert job_id in [j["job_id"] for j in client.get("/jobs", params={"limit": 100}).json()["jobs"]]

    fetched = bq.get_job(job_id)
    assert fetched.state == "DONE" and fetched.query.startswith("SELECT VendorID")
    assert job_id in [j.job_id for j in bq.list_jobs(max_results=100)]
    assert job_id in [j.job_id for j in bq.list_jobs(state_filter="done", max_results=100)]


def test_a_taken_job_id_is_a_conflict(bq: bigquery.Client) -> None:
    job_id = f"taken_{uuid.uuid4().hex}"
    bq.query("SELECT 1 AS one", job_id=job_id, job_retry=None).result()
    with pytest.raises(exceptions.Conflict):
        bq.query("SELECT 2 AS two", job_id=job_id, job_retry=None).result()


def test_dry_run_estimates_without_running(bq: bigquery.Client, client) -> None:
    before = client.get("/jobs").json()["total"]
    job = bq.query("SELECT fare_amount FROM nyc_taxi", job_config=bigquery.QueryJobConfig(dry_run=True))
    assert job.state == "DONE"
    assert job.total_bytes_processed > 0
    assert client.get("/jobs").json()["total"] == before


def test_sql_the_engine_rejects_fails_the_job_with_invalid_query(bq: bigquery.Client, client) -> None:
    job = bq.query("SELECT no_such_column FROM nyc_taxi")
    with pytest.raises(exceptions.BadRequest) as raised:
        job.result()
    assert raised.value.errors[0]["reason"] == "invalidQuery"
    assert "no_such_column" in raised.value.message
    assert client.get(f"/jobs/{job.job_id}").json()["status"] == "failed"


def test_legacy_sql_and_unknown_jobs_are_client_errors(bq: bigquery.Client) -> None:
    with pytest.raises(exceptions.BadRequest):
        bq.query("SELECT 1", job_config=bigquery.QueryJobConfig(use_legacy_sql=True)).result()
    with pytest.raises(exceptions.NotFound):
        bq.get_job("job_that_never_was")


def test_cancel_stops_a_running_query(bq: bigquery.Client, client) -> None:
    job = bq.query(ENDLESS)
    while client.get(f"/jobs/{job.job_id}").json()["status"] == "queued":
        client.get(f"/jobs/{job.job_id}/result", params={"timeout_ms": 50})
    cancelled = bq.cancel_job(job.job_id)
    assert cancelled.job_id == job.job_id
    with pytest.raises(exceptions.GoogleAPICallError):
        job.result()
    job.reload()
    assert job.state == "DONE" and job.error_result["reason"] == "stopped"
    assert client.get(f"/jobs/{job.job_id}").json()["status"] == "cancelled"


def test_parameters_are_bound_not_pasted(bq: bigquery.Client) -> None:
    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter("min_fare", "FLOAT64", 10.0),
        bigquery.ScalarQueryParameter("label", "STRING", "x' OR '1'='1"),
        bigquery.ArrayQueryParameter("vendors", "INT64", [1, 2]),
    ])
    sql = ("SELECT COUNT(*) AS n, ANY_VALUE(@label) AS label FROM nyc_taxi "
           "WHERE fare_amount >= @min_fare AND VendorID IN UNNEST(@vendors)")
    row = next(iter(bq.query_and_wait(sql, job_config=config)))
    assert 0 < row["n"] <= SAMPLE_ROWS
    assert row["label"] == "x' OR '1'='1"

    positional = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter(None, "INT64", 3)])
    assert next(iter(bq.query_and_wait("SELECT ? * 2 AS six", job_config=positional)))["six"] == 6


def test_values_round_trip_with_their_types(bq: bigquery.Client) -> None:
    sql = ("SELECT NUMERIC '12.345678901' AS amount, TIMESTAMP '2026-01-02 03:04:05.123456+00' AS at, "
           "DATE '2026-02-03' AS day, b'\\x00\\xffbytes' AS raw, STRUCT(1 AS id, ['a', 'b'] AS tags) AS rec, "
           "[1, 2, 3] AS numbers, TRUE AS flag, 1.5 AS ratio")
    row = next(iter(bq.query_and_wait(sql)))
    assert row["amount"] == Decimal("12.345678901")
    assert row["at"] == dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    assert row["day"] == dt.date(2026, 2, 3)
    assert row["raw"] == b"\x00\xffbytes"
    assert row["rec"] == {"id": 1, "tags": ["a", "b"]}
    assert row["numbers"] == [1, 2, 3]
    assert row["flag"] is True and row["ratio"] == 1.5


def test_large_results_page_through_get_query_results(bq: bigquery.Client) -> None:
    job = bq.query("SELECT trip_distance, tpep_pickup_datetime FROM nyc_taxi")
    result = job.result(page_size=7_000)
    assert result.total_rows == SAMPLE_ROWS
    pages = list(result.pages)
    assert len(pages) == -(-SAMPLE_ROWS // 7_000)
    assert sum(page.num_items for page in pages) == SAMPLE_ROWS
    table = bq.query("SELECT trip_distance FROM nyc_taxi").result().to_arrow(create_bqstorage_client=False)
    assert table.num_rows == SAMPLE_ROWS


def test_the_engine_label_picks_clickhouse_for_one_job(bq: bigquery.Client, client) -> None:
    config = bigquery.QueryJobConfig(labels={"bqlite-engine": "clickhouse"})
    job = bq.query("SELECT COUNT(*) AS n FROM nyc_taxi", job_config=config)
    assert next(iter(job.result()))["n"] == SAMPLE_ROWS
    assert client.get(f"/jobs/{job.job_id}").json()["engine"] == "clickhouse"


def test_an_unknown_engine_label_is_invalid(bq: bigquery.Client) -> None:
    config = bigquery.QueryJobConfig(labels={"bqlite-engine": "oracle"})
    with pytest.raises(exceptions.BadRequest):
        bq.query("SELECT 1", job_config=config).result()


def test_untranslatable_sql_is_invalid_query_before_any_job(bq: bigquery.Client) -> None:
    with pytest.raises(exceptions.BadRequest) as raised:
        bq.query("SELECT FROM WHERE ((").result()
    assert raised.value.errors[0]["reason"] in ("invalidQuery", "invalid")


def test_a_forged_page_token_is_a_client_error(bq: bigquery.Client, bq_url: str) -> None:
    import httpx

    job = bq.query("SELECT 1 AS one")
    job.result()
    answer = httpx.get(f"{bq_url}/bigquery/v2/projects/p/queries/{job.job_id}", params={"pageToken": "%%%"})
    assert answer.status_code == 400
    assert answer.json()["error"]["errors"][0]["reason"] == "invalid"


def test_destination_table_dispositions(bq: bigquery.Client, dataset_id: str) -> None:
    destination = f"{bq.project}.{dataset_id}.fares"
    sql = "SELECT VendorID, ROUND(SUM(fare_amount), 2) AS fares FROM nyc_taxi GROUP BY VendorID"

    def run(disposition: str | None) -> bigquery.QueryJob:
        config = bigquery.QueryJobConfig(destination=destination)
        if disposition:
            config.write_disposition = disposition
        job = bq.query(sql, job_config=config)
        job.result()
        return job

    job = run(None)   # WRITE_EMPTY by default, into a new table
    assert job.destination.table_id == "fares"
    assert bq.get_table(destination).num_rows == 2
    run("WRITE_APPEND")
    assert bq.get_table(destination).num_rows == 4
    run("WRITE_TRUNCATE")
    assert bq.get_table(destination).num_rows == 2
    with pytest.raises(exceptions.Conflict):
        run("WRITE_EMPTY")        # the table has rows now: the job fails with "duplicate"
    assert bq.get_table(destination).num_rows == 2

    never = bigquery.QueryJobConfig(destination=f"{bq.project}.{dataset_id}.absent",
                                    create_disposition="CREATE_NEVER")
    with pytest.raises(exceptions.NotFound):
        bq.query(sql, job_config=never).result()
    with pytest.raises(exceptions.BadRequest):       # the sample dataset takes no tables
        bq.query(sql, job_config=bigquery.QueryJobConfig(destination=f"{bq.project}.default.mine")).result()


def test_ddl_and_dml_through_queries(bq: bigquery.Client, dataset_id: str) -> None:
    bq.query_and_wait(f"CREATE TABLE `{dataset_id}.notes` (id INT64, body STRING)")
    job = bq.query(f"INSERT INTO `{dataset_id}.notes` (id, body) VALUES (1, 'a'), (2, 'b')")
    job.result()
    assert job.statement_type == "INSERT"
    assert job.num_dml_affected_rows == 2
    rows = bq.query_and_wait(f"SELECT body FROM `{dataset_id}.notes` ORDER BY id")
    assert [row["body"] for row in rows] == ["a", "b"]


def test_job_text_that_is_not_valid_unicode_still_renders() -> None:
    # An engine's message may carry undecodable bytes as lone surrogates (and old history may hold them in
    # labels); one such job once made every jobs.list that included it fail, and the client retry for minutes.
    import orjson

    from bqlite_app.bigquery.resources import job_resource
    from bqlite_app.jobs.models import Job, JobStatus

    job = Job(sql="SELECT 1",
              max_execution_time=300, engine="duckdb", status=JobStatus.FAILED, error="bad byte \udcff here",
              labels={"team": "x\udcff"})
    rendered = orjson.loads(orjson.dumps(job_resource(job, None, project="p", base_url="http://x")))
    assert rendered["status"]["errorResult"]["message"] == "bad byte \ufffd here"
    assert rendered["configuration"]["labels"] == {"team": "x\ufffd"}
