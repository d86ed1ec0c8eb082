"""Job overhead: queries through the REST API vs the same SQL on a local file-backed DuckDB copy of the sample.

Two workloads: the ten heavy queries of ``workloads.HEAVY_QUERIES`` (10-160 ms each) and
``workloads.CROSS_JOIN_QUERIES`` (the sample cross-joined 48 times: about 0.1-1 s each). Each query runs ROUNDS
times on each side, alternating; its ratio is the median API time over the median direct time. Target: the median
ratio over the cross-join queries <= 1.10.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from bench.client import run_query
from bench.workloads import CROSS_JOIN_QUERIES, HEAVY_QUERIES
from bqlite_app.sample_data import generate_trips

ROUNDS = 5
# The API side waits in the submission (`wait_ms`): one round trip per query, as a client now runs it.
WAIT_MS = 60_000


def direct_connection(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A private DuckDB file with the same sample (the server holds its own file locked)."""
    path = data_dir / "direct.duckdb"
    con = duckdb.connect(str(path))
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'nyc_taxi'").fetchall()[0][0]:
        reader = pa.RecordBatchReader.from_batches(*_first_and_rest(generate_trips(1_000_000)))  # noqa: F841 (scanned by name)
        con.execute("CREATE TABLE nyc_taxi AS SELECT * FROM reader")
    return con


def _first_and_rest(batches):
    first = next(batches)
    def chain():
        yield first
        yield from batches
    return first.schema, chain()


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _workload(http: httpx.Client, con: duckdb.DuckDBPyConnection, queries: list[str]) -> dict:
    for sql in queries:  # warm both sides: caches, plans, file pages
        con.sql(sql).to_arrow_table()
        run_query(http, sql, wait_ms=WAIT_MS)
    direct: list[list[float]] = [[] for _ in queries]
    api: list[list[float]] = [[] for _ in queries]
    for round_ in range(ROUNDS):
        for i, sql in enumerate(queries):
            sides = [(direct, lambda sql=sql: con.sql(sql).to_arrow_table()),
                     (api, lambda sql=sql: run_query(http, sql, wait_ms=WAIT_MS))]
            for times, call in sides if round_ % 2 else sides[::-1]:
                times[i].append(_timed(call))
    direct_ms = [statistics.median(t) * 1000 for t in direct]
    api_ms = [statistics.median(t) * 1000 for t in api]
    ratios = [a / d for a, d in zip(api_ms, direct_ms, strict=True)]
    return {"direct_ms": direct_ms, "api_ms": api_ms, "ratios": ratios, "median_ratio": statistics.median(ratios),
            "total_ratio": sum(api_ms) / sum(direct_ms)}


def run(url: str, data_dir: Path) -> dict:
    con = direct_connection(data_dir)
    results = {}
    with httpx.Client(base_url=url, timeout=120) as http:
        for name, queries in (("heavy", HEAVY_QUERIES), ("cross_join_48", CROSS_JOIN_QUERIES)):
            figures = results[name] = _workload(http, con, queries)
            print(f"{name}: {len(queries)} queries, direct {min(figures['direct_ms']):.0f}-"
                  f"{max(figures['direct_ms']):.0f} ms each (sum {sum(figures['direct_ms']):.0f} ms), via API sum "
                  f"{sum(figures['api_ms']):.0f} ms; per-query ratio median {figures['median_ratio']:.3f} "
                  f"(range {min(figures['ratios']):.2f}-{max(figures['ratios']):.2f}), total "
                  f"{figures['total_ratio']:.3f} (target: median <= 1.10)")
    return {**results, "ratio": results["cross_join_48"]["median_ratio"], "target": 1.10}
