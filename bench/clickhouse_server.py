"""ClickHouse server mode: a heavy query through our API against the same query sent straight to the server with
clickhouse-connect, and 1M protobuf messages ingested into the server.

The server is the chdb-backed ClickHouse HTTP test server (tests/support), in a process of its own; a backend of
our own is started beside the run's one with ``CLICKHOUSE_HOST`` pointing at it. Rounds alternate the two sides, so
drift on the shared machine hits both alike; the best round of each counts. Target: API <= 1.15x direct.

    .venv/bin/python -m bench clickhouse_server      # or: .venv/bin/python -m bench.clickhouse_server
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import clickhouse_connect
import httpx

from bench import ingest
from bench.client import run_query
from bench.server import ROOT, running_backend
from tests.support.ch_test_server_process import TestServerProcess

SAMPLE_ROWS = 1_000_000
ROUNDS = 3
TARGET_RATIO = 1.15
# Heavy on the engine, light on the wire: 20M rows of hashing and exact quantiles, eight rows back.
HEAVY_SQL = ("SELECT passenger_count, uniqExact(sipHash64(tpep_pickup_datetime, trip_distance, n.number)) AS trips, "
             "quantilesExact(0.5, 0.9)(fare_amount * (1 + n.number / 100)) AS fares "
             "FROM default.nyc_taxi, numbers(20) AS n GROUP BY passenger_count ORDER BY passenger_count")


def _direct(client: clickhouse_connect.driver.Client) -> tuple[float, int]:
    started = time.perf_counter()
    table = client.query_arrow(HEAVY_SQL)
    return time.perf_counter() - started, table.num_rows


def _through_api(http: httpx.Client) -> tuple[float, int]:
    started = time.perf_counter()
    answer = run_query(http, HEAVY_SQL, "clickhouse")
    return time.perf_counter() - started, len(answer["rows"])


def run(_url: str | None = None, data_dir: Path | None = None) -> dict:
    data_dir = data_dir or ROOT / "data" / "bench"
    with TestServerProcess(data_dir / "clickhouse-test-server") as server:
        env = {"CLICKHOUSE_HOST": server.host, "CLICKHOUSE_PORT": str(server.port),
               "BQLITE_RATE_LIMIT": "1000000/minute"}
        with running_backend(data_dir / "clickhouse-server-backend", sample_rows=SAMPLE_ROWS, extra_env=env) as url, \
                httpx.Client(base_url=url, timeout=900) as http:
            direct = clickhouse_connect.get_client(host=server.host, port=server.port, autogenerate_session_id=False)
            _direct(direct)                  # warm both sides (page cache, connections)
            _through_api(http)
            api_s, direct_s = [], []
            for _ in range(ROUNDS):
                seconds, api_rows = _through_api(http)
                api_s.append(seconds)
                seconds, direct_rows = _direct(direct)
                direct_s.append(seconds)
            if api_rows != direct_rows:
                raise RuntimeError(f"the two sides differ: {api_rows} vs {direct_rows} rows")
            loaded = _ingest(http, data_dir)
    ratio = min(api_s) / min(direct_s)
    print(f"heavy query ({SAMPLE_ROWS // 1_000_000}M sample x 20): API {min(api_s) * 1000:.0f} ms, "
          f"clickhouse-connect direct {min(direct_s) * 1000:.0f} ms, ratio {ratio:.3f} (target <= {TARGET_RATIO})")
    rate = ingest.ROWS / loaded["seconds"]
    print(f"ingest {ingest.ROWS:,} trip messages into the server: {loaded['seconds']:.2f} s "
          f"({rate / 1e6:.2f} M rows/s, server {loaded['server_ms']} ms), rows {loaded['rows']}")
    return {"api_ms": [s * 1000 for s in api_s], "direct_ms": [s * 1000 for s in direct_s], "ratio": ratio,
            "target": TARGET_RATIO, "ingest_s": loaded["seconds"], "ingest_rows_per_s": rate,
            "ingest_server_ms": loaded["server_ms"], "ingest_rows": loaded["rows"]}


def _ingest(http: httpx.Client, data_dir: Path) -> dict:
    body = ingest.body_file(data_dir)
    schema_id = ingest.register(http)
    result = ingest.ingest(http, schema_id, body, "clickhouse", None)
    counted = run_query(http, f"SELECT count() FROM {ingest.DATABASE}.{ingest.TABLE}", "clickhouse")["rows"][0][0]
    if counted != ingest.ROWS:
        raise RuntimeError(f"the server holds {counted} rows, expected {ingest.ROWS}")
    return {**result, "rows": counted}


if __name__ == "__main__":
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    run()
