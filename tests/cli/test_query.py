"""`bqlite query`: SQL in, rows out in every format, and the exit codes scripts rely on."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pyarrow.parquet as pq

from bqlite_app.cli.client import ApiClient
from bqlite_app.cli.waiting import submit_and_wait
from tests.cli.conftest import Bqlite

NESTED = "SELECT 1 AS id, 'a,b' AS text, [1, 2] AS list, {'k': 'v'} AS struct, NULL AS nothing, true AS flag"


def test_piped_output_is_csv_and_the_summary_goes_to_stderr(bqlite: Bqlite):
    result = bqlite("query", "SELECT i, i * 2 AS twice FROM range(3) t(i) ORDER BY i")
    assert result.exit_code == 0, result.stderr
    assert csv_rows(result.stdout) == [["i", "twice"], ["0", "0"], ["1", "2"], ["2", "4"]]
    assert "3 rows" in result.stderr and "job_" in result.stderr


def test_every_text_format_carries_nested_values_and_nulls(bqlite: Bqlite):
    expected = {"id": 1, "text": "a,b", "list": [1, 2], "struct": {"k": "v"}, "nothing": None, "flag": True}
    as_json = bqlite("query", NESTED, "--format", "json")
    assert json.loads(as_json.stdout) == [expected]
    as_ndjson = bqlite("query", NESTED, "--format", "ndjson")
    assert [json.loads(line) for line in as_ndjson.stdout.splitlines()] == [expected]
    as_csv = bqlite("query", NESTED, "--format", "csv", "--max-rows", "10")  # client-rendered csv
    assert list(csv.DictReader(io.StringIO(as_csv.stdout))) == [
        {"id": "1", "text": "a,b", "list": "[1,2]", "struct": '{"k":"v"}', "nothing": "", "flag": "true"}]
    table = bqlite("query", NESTED, "--format", "table")
    assert table.exit_code == 0
    for text in ("id", "INT64", "a,b", "NULL", '{"k": "v"}', "true"):
        assert text in table.stdout


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_sql_from_stdin_dash_and_file(bqlite: Bqlite, tmp_path):
    assert csv_rows(bqlite("query", input="SELECT 42 AS answer").stdout) == [["answer"], ["42"]]
    assert csv_rows(bqlite("query", "-", input="SELECT 43 AS answer").stdout) == [["answer"], ["43"]]
    sql_file = tmp_path / "q.sql"
    sql_file.write_text("-- a comment\nSELECT 44 AS answer\n")
    assert csv_rows(bqlite("query", "-f", str(sql_file)).stdout) == [["answer"], ["44"]]


def test_clickhouse_engine_and_the_sample_table(bqlite: Bqlite):
    result = bqlite("query", "--engine", "clickhouse", "SELECT count() AS trips FROM nyc_taxi", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"trips": 5000}]
    assert "on clickhouse" in result.stderr


def test_max_rows_cuts_the_output_and_says_so(bqlite: Bqlite):
    result = bqlite("query", "SELECT * FROM range(25000) t(i)", "--max-rows", "12000", "--format", "ndjson")
    assert [json.loads(line)["i"] for line in result.stdout.splitlines()] == list(range(12000))
    assert "12,000 of 25,000 rows" in result.stderr
    table = bqlite("query", "SELECT * FROM range(250) t(i)", "--format", "table")
    assert "100 of 250 rows" in table.stderr


def test_dry_run_prints_the_bytes_it_would_process(bqlite: Bqlite, api):
    sql = "SELECT fare_amount FROM nyc_taxi"
    estimate = api.post("/queries", json={"sql": sql, "dry_run": True}).json()["estimated_bytes_processed"]
    result = bqlite("query", sql, "--dry-run")
    assert result.exit_code == 0 and estimate > 0
    assert f"({estimate:,} bytes)" in result.stdout and "nyc_taxi" in result.stdout
    invalid = bqlite("query", "SELECT nope FROM nyc_taxi", "--dry-run")
    assert invalid.exit_code == 1 and "nope" in invalid.stderr and invalid.stdout == ""


def test_no_wait_prints_only_the_job_id(bqlite: Bqlite, api):
    result = bqlite("query", "SELECT 1", "--no-wait", "--priority", "3", "--slots", "2", "--label", "team=cli",
                    "--timeout", "60")
    job_id = result.stdout.strip()
    job = api.get(f"/jobs/{job_id}").json()
    assert (job["priority"], job["estimated_slots"], job["labels"], job["max_execution_time"]) == (
        3, 2, {"team": "cli"}, 60)


def test_a_failed_query_exits_1_with_the_engine_message_and_where_it_points(bqlite: Bqlite):
    result = bqlite("query", "SELECT 1,\n  missing_column FROM nyc_taxi")
    assert result.exit_code == 1 and result.stdout == ""
    assert "missing_column" in result.stderr
    assert "  missing_column FROM nyc_taxi\n    ^" in result.stderr  # the caret under the bad column
    assert "Traceback" not in result.stderr


def test_time_limit_fails_the_job(bqlite: Bqlite):
    result = bqlite("query", "SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3", "--timeout", "1")
    assert result.exit_code == 1 and "maximum execution time of 1 s" in result.stderr


def test_usage_errors_exit_2_before_anything_runs(bqlite: Bqlite, tmp_path, api):
    before = api.get("/jobs", params={"limit": 1}).json()["total"]
    sql_file = tmp_path / "q.sql"
    sql_file.write_text("SELECT 1")
    for args in (["query", "SELECT 1", "--priority", "9"], ["query", "SELECT 1", "--slots", "0"],
                 ["query", "   "], ["query", "SELECT 1", "-f", str(sql_file)], ["query", "SELECT 1", "-l", "x"],
                 ["query", "SELECT 1", "-o", str(tmp_path / "t.txt"), "--format", "table"],
                 ["query", "SELECT 1", "--format", "parquet", "--max-rows", "5", "-o", str(tmp_path / "x.parquet")],
                 ["query", "SELECT 1", "--format", "xml"], ["query", "-f", str(tmp_path / "missing.sql")]):
        result = bqlite(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert api.get("/jobs", params={"limit": 1}).json()["total"] == before


def test_api_errors_exit_4_with_detail_and_code(bqlite: Bqlite):
    result = bqlite("query", "SELECT 1", "--engine", "oracle")
    assert result.exit_code == 4
    assert "Unknown engine 'oracle'" in result.stderr and "ENGINE_NOT_AVAILABLE" in result.stderr


def test_output_file_holds_the_whole_result(bqlite: Bqlite, tmp_path):
    target = tmp_path / "out.parquet"
    result = bqlite("query", "SELECT i, i::VARCHAR AS s FROM range(50000) t(i)", "-o", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    table = pq.read_table(target)
    assert table.num_rows == 50000 and table.column("i").to_pylist()[-1] == 49999
    assert not (tmp_path / "out.parquet.part").exists()


def test_raw_json_is_the_api_answer(bqlite: Bqlite):
    page = json.loads(bqlite("--json", "query", "SELECT 7 AS n").stdout)
    assert page["status"] == "completed" and page["rows"] == [[7]] and page["columns"][0]["name"] == "n"
    failed = bqlite("query", "SELEC 1", "--json")  # --json works after the command too
    assert failed.exit_code == 1 and json.loads(failed.stdout)["status"] == "failed"
    dry = json.loads(bqlite("query", "SELECT 1", "--dry-run", "--json").stdout)
    assert dry["dry_run"] is True and dry["valid"] is True


class _Recording(httpx.BaseTransport):
    """The real transport, with the path of every request kept."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return self.inner.handle_request(request)


def test_a_small_query_is_one_round_trip_and_a_failed_one_reads_its_job(api_url: str):
    transport = _Recording()
    client = ApiClient(api_url, transport=transport)
    try:
        job, first = submit_and_wait(client, {"sql": "SELECT 42 AS n"}, first_rows=5)
        assert transport.paths == ["/queries"]
        assert job["status"] == "completed" and job["rows_returned"] == 1 and job["engine"] == "duckdb"
        assert first == client.result_page(job["job_id"], limit=5)
        transport.paths.clear()
        job, first = submit_and_wait(client, {"sql": "SELECT * FROM no_such_table_cli"})
        assert first is None and job["status"] == "failed" and "no_such_table_cli" in job["error"]
        assert "error_position" in job and transport.paths[0] == "/queries" and len(transport.paths) == 2
    finally:
        client.close()
