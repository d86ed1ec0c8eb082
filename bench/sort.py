"""Sort: the first page of a 1M-row result sorted by one column, vs DuckDB sorting the same Arrow file directly.

Target: our path takes at most 1.5x the baseline, measured in the same run, alternating.

- Baseline: DuckDB (a fresh in-process connection) over the job's stored Arrow IPC file, memory-mapped and handed
  to DuckDB as an Arrow table: ``SELECT * FROM result ORDER BY col DESC LIMIT 1000``, fetched as Arrow.
- Core: ``ResultQuery.page`` on the same file (what the API and the UI call): open the file, let DuckDB order the
  row numbers by the column, take those 1,000 rows from the file with Arrow.
- REST: ``GET /jobs/{id}/result?order_by=col:desc&limit=1000`` on the running backend, JSON rows and HTTP included
  (what the grid's first page after a header click costs; recorded, the target is for the core path).

    .venv/bin/python -m bench sort        # or python -m bench.sort (starts its own backend)
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from bench.client import run_query
from bqlite_app.jobs.result_query import ResultQuery
from bqlite_app.jobs.result_view import parse_view
from bqlite_app.jobs.results import ResultStore

SQL = "SELECT * FROM nyc_taxi"
COLUMNS = ("fare_amount", "tpep_pickup_datetime", "trip_distance")
ROUNDS = 7
PAGE = 1000


def _baseline(path: Path, column: str) -> float:
    started = time.perf_counter()
    con = duckdb.connect()
    try:
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()   # zero-copy over the map
        con.register("result", table)
        page = con.sql(f'SELECT * FROM result ORDER BY "{column}" DESC LIMIT {PAGE}').to_arrow_table()
    finally:
        con.close()
    assert page.num_rows == PAGE
    return time.perf_counter() - started


def _core(query: ResultQuery, job_id: str, column: str) -> float:
    started = time.perf_counter()
    page = query.page(job_id, parse_view(f"{column}:desc"), 0, PAGE)
    assert page.table.num_rows == PAGE
    return time.perf_counter() - started


def _rest(http: httpx.Client, job_id: str, column: str) -> float:
    started = time.perf_counter()
    answer = http.get(f"/jobs/{job_id}/result", params={"order_by": f"{column}:desc", "limit": PAGE})
    answer.raise_for_status()
    assert len(answer.json()["rows"]) == PAGE
    return time.perf_counter() - started


def run(url: str, data_dir: Path) -> dict:
    results_dir = data_dir / "server" / "results"
    with httpx.Client(base_url=url, timeout=300) as http:
        job_id = run_query(http, SQL)["job_id"]
        path = results_dir / f"{job_id}.arrow"
        if not path.is_file():
            raise RuntimeError(f"the result file {path} is not there: is the backend's data dir {data_dir / 'server'}?")
        store = ResultStore(results_dir, cache_max_bytes=0)   # reads the server's file, writes nothing
        query = ResultQuery(store)
        figures: dict[str, dict] = {}
        try:
            for column in COLUMNS:
                for warm in (_baseline(path, column), _core(query, job_id, column), _rest(http, job_id, column)):
                    del warm   # the first touch of the map pages the file in for all three
                base, core, rest = [], [], []
                for _ in range(ROUNDS):
                    base.append(_baseline(path, column))
                    core.append(_core(query, job_id, column))
                    rest.append(_rest(http, job_id, column))
                b, c, r = (statistics.median(x) for x in (base, core, rest))
                figures[column] = {"baseline_ms": b * 1000, "core_ms": c * 1000, "rest_ms": r * 1000,
                                   "core_ratio": c / b, "rest_ratio": r / b}
                print(f"1M rows sorted by {column} desc, first {PAGE} rows (median of {ROUNDS}): DuckDB on the "
                      f"Arrow file {b * 1000:.1f} ms, ours (core) {c * 1000:.1f} ms, ratio {c / b:.2f} "
                      f"(target <= 1.5); REST JSON page {r * 1000:.1f} ms, ratio {r / b:.2f}")
        finally:
            query.close()
    worst = max(f["core_ratio"] for f in figures.values())
    return {"columns": figures, "worst_core_ratio": worst, "target": 1.5, "rows": 1_000_000}


if __name__ == "__main__":
    from bench.server import ROOT, running_backend

    bench_dir = ROOT / "data" / "bench-sort"
    with running_backend(bench_dir / "server") as base_url:
        run(base_url, bench_dir)
