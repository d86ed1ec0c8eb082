"""`bqlite jobs plan`: the execution graph of a job's run as a tree with time bars; slow operators stand out."""

from __future__ import annotations

import json
import time

import pytest

from bqlite_app.cli.output import out
from bqlite_app.cli.plan_tree import print_plan
from tests.cli.conftest import Bqlite, submit, wait_done

JOIN_SQL = ("SELECT p.payment_type, count(*) AS trips FROM nyc_taxi t "
            "JOIN (SELECT DISTINCT payment_type FROM nyc_taxi) p ON t.payment_type = p.payment_type "
            "GROUP BY p.payment_type ORDER BY trips DESC")


def graph_ready(api, job_id: str, wait_s: float = 60.0) -> dict:
    """The plan answer once the run's graph is in (ClickHouse logs in the background; a slow machine is slower)."""
    deadline = time.monotonic() + wait_s
    while True:
        body = api.get(f"/jobs/{job_id}/plan").json()
        if body["execution_graph"]["status"] != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


@pytest.mark.parametrize("engine", ["duckdb", "clickhouse"])
def test_plan_prints_the_operator_tree(bqlite: Bqlite, api, engine):
    job_id = submit(api, JOIN_SQL, engine=engine)
    assert wait_done(api, job_id)["status"] == "completed"
    body = graph_ready(api, job_id)
    assert body["execution_graph"]["status"] == "available"
    shown = bqlite("jobs", "plan", job_id)
    assert shown.exit_code == 0, shown.output
    assert "JOIN" in shown.stdout.upper() and "%" in shown.stdout and " ms" in shown.stdout
    assert body["execution_graph"]["root"]["name"] in shown.stdout
    assert "operators" in shown.stderr
    # --explain adds the engine's EXPLAIN; --json is the API's answer as it came.
    explained = bqlite("jobs", "plan", "--explain", job_id)
    assert body["plan"].splitlines()[0].strip() in explained.stdout
    assert json.loads(bqlite("--json", "jobs", "plan", job_id).stdout) == api.get(f"/jobs/{job_id}/plan").json()


def test_a_job_without_a_graph_prints_why_and_its_explain(bqlite: Bqlite, api):
    job_id = submit(api, "SELECT 42 AS answer")
    wait_done(api, job_id)
    shown = bqlite("jobs", "plan", job_id)
    assert shown.exit_code == 0
    assert "No execution graph" in shown.stderr and "read no table" in shown.stderr
    assert shown.stdout.strip()                  # the EXPLAIN text


def test_unknown_job_is_an_api_error(bqlite: Bqlite):
    shown = bqlite("jobs", "plan", "job_nope_000000")
    assert shown.exit_code != 0 and "JOB_NOT_FOUND" in shown.stderr


def test_slow_operators_stand_out(capsys):
    answer = {"plan": "EXPLAIN TEXT", "execution_graph": {
        "status": "available", "source": "duckdb_profile", "total_ms": 10.0, "operator_count": 2, "truncated": False,
        "root": {"name": "HASH_JOIN", "detail": "INNER", "time_ms": 8.0, "rows": 10, "share": 0.8, "slow": True,
                 "children": [{"name": "SEQ_SCAN", "detail": "main.t", "time_ms": 2.0, "rows": 1000, "share": 0.2,
                               "slow": False, "children": []}]}}}
    out.width = 200
    try:
        print_plan(answer)
    finally:
        out.width = None  # type: ignore[assignment]
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    join = next(line for line in lines if "HASH_JOIN" in line)
    scan = next(line for line in lines if "SEQ_SCAN" in line)
    assert "slow" in join and "80.0%" in join and "8.00 ms" in join and "10 rows" in join
    assert "slow" not in scan and "20.0%" in scan and "1,000 rows" in scan
    assert join.count("█") == 16 and scan.count("█") == 4
    assert lines.index(scan) > lines.index(join)          # a child under its parent
    assert "EXPLAIN TEXT" not in printed.out              # only with --explain when a graph is shown
