"""`bqlite jobs`: history, detail, cancel, and whole results streamed to files."""

from __future__ import annotations

import json
import os
import re
import subprocess

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli.conftest import BQLITE, Bqlite, submit, wait_done

SLOW = "SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3"


@pytest.fixture(scope="module")
def finished_job(api) -> dict:
    return wait_done(api, submit(api, "SELECT i, 'row ' || i AS label FROM range(30000) t(i) ORDER BY i"))


def test_list_filters_and_counts(bqlite: Bqlite, api):
    failed_id = submit(api, "SELECT definitely_not_a_column -- jobs-list-filter")
    for job_id in (failed_id, submit(api, "SELECT 1 -- jobs-list-filter"),
                   submit(api, "SELECT 2 -- jobs-list-filter", engine="clickhouse")):
        wait_done(api, job_id)
    listed = bqlite("jobs", "list", "--status", "failed", "--search", "jobs-list-filter")
    assert listed.exit_code == 0
    assert failed_id in listed.stdout and "failed" in listed.stdout
    assert "completed" not in listed.stdout
    raw = json.loads(bqlite("jobs", "list", "--engine", "duckdb", "--limit", "2", "--search", "jobs-list-filter",
                            "--json").stdout)
    assert len(raw["jobs"]) == 2 and raw["total"] >= 2 and {j["engine"] for j in raw["jobs"]} == {"duckdb"}


def test_show_prints_the_job_and_json_is_the_api_answer(bqlite: Bqlite, api, finished_job):
    job_id = finished_job["job_id"]
    shown = bqlite("jobs", "show", job_id)
    assert shown.exit_code == 0
    for text in (job_id, "completed", "30,000", "range(30000)"):
        assert text in shown.stdout
    assert re.search(r"Kind\s+query", shown.stdout)
    assert json.loads(bqlite("--json", "jobs", "show", job_id).stdout) == api.get(f"/jobs/{job_id}").json()


def test_unknown_job_is_an_api_error(bqlite: Bqlite):
    for command in ("show", "cancel", "result"):
        result = bqlite("jobs", command, "job_missing")
        assert result.exit_code == 4, command
        assert "JOB_NOT_FOUND" in result.stderr and "job_missing" in result.stderr


def test_cancel_stops_a_running_job_and_a_second_cancel_is_refused(bqlite: Bqlite, api):
    job_id = submit(api, SLOW)
    cancelled = bqlite("jobs", "cancel", job_id)
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.stdout
    assert api.get(f"/jobs/{job_id}").json()["status"] == "cancelled"
    again = bqlite("jobs", "cancel", job_id)
    assert again.exit_code == 4 and "JOB_ALREADY_FINISHED" in again.stderr
    result = bqlite("jobs", "result", job_id)
    assert result.exit_code == 1 and "cancelled" in result.stderr


def test_an_xlsx_file_is_the_servers_workbook(bqlite: Bqlite, finished_job, tmp_path):
    target = tmp_path / "result.xlsx"
    result = bqlite("jobs", "result", finished_job["job_id"], "-o", str(target))  # the suffix picks the format
    assert result.exit_code == 0, result.stderr
    assert "30,000 rows" in result.stderr
    rows = list(openpyxl.load_workbook(target, read_only=True)["result"].iter_rows(values_only=True))
    assert rows[0] == ("i", "label") and len(rows) == 30_001 and rows[-1] == (29999, "row 29999")


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet", "arrow"])
def test_result_files_are_the_servers_whole_export(bqlite: Bqlite, api, finished_job, tmp_path, fmt):
    job_id = finished_job["job_id"]
    target = tmp_path / f"result.{fmt}"
    result = bqlite("jobs", "result", job_id, "-o", str(target))  # the suffix picks the format
    assert result.exit_code == 0, result.stderr
    assert "30,000 rows" in result.stderr
    assert target.read_bytes() == api.get(f"/jobs/{job_id}/result", params={"format": fmt}).content
    if fmt == "parquet":
        assert pq.read_table(target).num_rows == 30000
    if fmt == "arrow":
        assert pa.ipc.open_stream(target.read_bytes()).read_all().column("label")[29999].as_py() == "row 29999"


def test_result_to_stdout_and_json_file(bqlite: Bqlite, finished_job, tmp_path):
    job_id = finished_job["job_id"]
    lines = bqlite("jobs", "result", job_id, "--format", "ndjson").stdout.splitlines()
    assert len(lines) == 30000 and json.loads(lines[-1]) == {"i": 29999, "label": "row 29999"}
    target = tmp_path / "first.json"
    bqlite("jobs", "result", job_id, "--max-rows", "3", "-o", str(target))
    assert json.loads(target.read_text()) == [{"i": i, "label": f"row {i}"} for i in range(3)]


def test_result_waits_for_a_running_job(bqlite: Bqlite, api):
    job_id = submit(api, "SELECT count(*) AS n FROM range(300000000) t(i) WHERE i % 7 = 3")
    result = bqlite("jobs", "result", job_id, "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout) == [{"n": 42857143}]


def test_a_failed_job_leaves_no_file(bqlite: Bqlite, api, tmp_path):
    job_id = wait_done(api, submit(api, "SELECT nope"))["job_id"]
    target = tmp_path / "out.csv"
    result = bqlite("jobs", "result", job_id, "-o", str(target))
    assert result.exit_code == 1 and "failed" in result.stderr
    assert list(tmp_path.iterdir()) == []


def _peak_rss_kib(args: list[str], env: dict[str, str]) -> tuple[int, int]:
    """Run the installed `bqlite`; answer (exit code, its peak resident memory in KiB) from the kernel's own
    accounting of that one process."""
    process = subprocess.Popen([str(BQLITE), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss


def test_a_million_rows_stream_to_parquet_in_bounded_memory(api, api_url, tmp_path):
    # 1M rows of 128 unrelated hex characters: over 60 MB of Parquet even compressed, far more than the CLI may
    # hold at once.
    sql = ("SELECT i, md5('a' || i) || md5('b' || i) || md5('c' || i) || md5('d' || i) AS h "
           "FROM range(1000000) t(i)")
    job_id = wait_done(api, submit(api, sql))["job_id"]
    env = {**os.environ, "BQLITE_API_URL": api_url}
    code, baseline = _peak_rss_kib(["jobs", "show", job_id], env)  # the same imports, no data
    assert code == 0
    target = tmp_path / "million.parquet"
    code, peak = _peak_rss_kib(["jobs", "result", job_id, "-o", str(target)], env)
    assert code == 0
    size_kib = target.stat().st_size // 1024
    assert pq.read_metadata(target).num_rows == 1_000_000 and size_kib > 48 * 1024
    assert peak - baseline < 24 * 1024, f"the CLI grew {peak - baseline} KiB for a {size_kib} KiB file"
