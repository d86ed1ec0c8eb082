"""What the SQL sandbox costs a small job: every submission is parsed by its engine and judged before a job exists.

Parses are cached by text, so the baseline submits the same `SELECT 1` again and again (one dictionary lookup),
and the measured run submits a different text every time (`SELECT 1 AS c<n>`: a full parse per job, two round
trips to chdb on ClickHouse). Same server, same clients, same run. Target: distinct / repeated >= 0.7.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import httpx

from bench.client import jobs_per_second, run_query

CLIENTS = 4
JOBS_PER_CLIENT = 150
TARGET_RATIO = 0.7


def _rate(url: str, engine: str, texts: itertools.count | None) -> float:
    lock = threading.Lock()

    def sql() -> str:
        if texts is None:
            return "SELECT 1 AS c"
        with lock:
            return f"SELECT 1 AS c{next(texts)}"

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for _ in range(JOBS_PER_CLIENT):
                run_query(http, sql(), engine)

    return jobs_per_second(client, CLIENTS, JOBS_PER_CLIENT)


def run(url: str, data_dir: Path) -> dict:
    results = {}
    texts = itertools.count()
    for engine in ("duckdb", "clickhouse"):
        with httpx.Client(base_url=url) as http:  # warm up
            for _ in range(20):
                run_query(http, "SELECT 1 AS c", engine)
        repeated = _rate(url, engine, None)
        distinct = _rate(url, engine, texts)
        ratio = distinct / repeated
        print(f"{engine}: repeated text {repeated:.0f} jobs/s, distinct text {distinct:.0f} jobs/s, "
              f"ratio {ratio:.2f} (target >= {TARGET_RATIO})")
        results[engine] = {"repeated_jobs_per_s": repeated, "distinct_jobs_per_s": distinct, "ratio": ratio,
                           "target": TARGET_RATIO}
    return results
