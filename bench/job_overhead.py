"""Job overhead: heavy queries through the REST API vs the same queries on DuckDB in this process.

Target: API time / direct time <= 1.10.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from bench.client import run_query
from bench.workloads import HEAVY_QUERIES
from bqlite_app.sample_data import generate_trips

ROUNDS = 3


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


def run(url: str, data_dir: Path) -> dict:
    con = direct_connection(data_dir)
    with httpx.Client(base_url=url, timeout=120) as http:
        for sql in HEAVY_QUERIES:  # warm both sides: caches, plans, file pages
            con.sql(sql).to_arrow_table()
            run_query(http, sql)
        api_s, direct_s = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            for sql in HEAVY_QUERIES:
                con.sql(sql).to_arrow_table()
            direct_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            for sql in HEAVY_QUERIES:
                run_query(http, sql)
            api_s.append(time.perf_counter() - started)
    direct, api = min(direct_s), min(api_s)
    ratio = api / direct
    print(f"{len(HEAVY_QUERIES)} heavy queries: direct {direct * 1000:.0f} ms, via API {api * 1000:.0f} ms, "
          f"ratio {ratio:.3f} (target <= 1.10)")
    return {"direct_ms": direct * 1000, "api_ms": api * 1000, "ratio": ratio, "target": 1.10}
