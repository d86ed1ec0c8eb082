"""BigQuery client to Arrow: `client.query(sql).to_arrow(bqstorage_client=...)` with google-cloud-bigquery, the
result read over our Storage Read API (gRPC, Arrow), against our own `POST /queries` +
`GET /jobs/{id}/result?format=arrow` of the same SQL, both on the 1M-row sample, end to end (the query runs in both).
Target: ratio <= 1.5.

The download alone is measured too: the finished job's `to_arrow()` again (getQueryResults, then the read session)
against the finished job's Arrow export. A backend of its own is started beside the run's one, because the storage
port must be known (`BQLITE_STORAGE_PORT`); its data dir keeps the sample between runs. Rounds alternate the two
sides, so drift on the shared machine hits both alike; the best round of each counts.

    .venv/bin/python -m bench bigquery_arrow      # or: .venv/bin/python -m bench.bigquery_arrow
"""

from __future__ import annotations

import platform
import time
import warnings
from pathlib import Path

import grpc
import httpx
import pyarrow as pa
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, bigquery_storage
from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

from bench.client import run_query
from bench.server import ROOT, free_port, running_backend

ROWS = 1_000_000
OWN_SQL = "SELECT * FROM nyc_taxi"
GOOGLE_SQL = "SELECT * FROM `default.nyc_taxi`"
ROUNDS = 3
TARGET_RATIO = 1.5


def _own_arrow(http: httpx.Client, job_id: str) -> pa.Table:
    with http.stream("GET", f"/jobs/{job_id}/result", params={"format": "arrow"}) as response:
        response.raise_for_status()
        return pa.ipc.open_stream(pa.py_buffer(response.read())).read_all()


def _own(http: httpx.Client) -> tuple[float, float, pa.Table]:
    started = time.perf_counter()
    job_id = run_query(http, OWN_SQL)["job_id"]
    table = _own_arrow(http, job_id)
    total = time.perf_counter() - started
    started = time.perf_counter()
    _own_arrow(http, job_id)
    return total, time.perf_counter() - started, table


def _client(bq: bigquery.Client, storage: bigquery_storage.BigQueryReadClient) -> tuple[float, float, pa.Table]:
    started = time.perf_counter()
    job = bq.query(GOOGLE_SQL)
    table = job.to_arrow(bqstorage_client=storage)
    total = time.perf_counter() - started
    started = time.perf_counter()
    job.to_arrow(bqstorage_client=storage)
    return total, time.perf_counter() - started, table


def run(_url: str | None = None, data_dir: Path | None = None) -> dict:
    data_dir = data_dir or ROOT / "data" / "bench"
    storage_port = free_port()
    env = {"BQLITE_STORAGE_PORT": str(storage_port), "BQLITE_RATE_LIMIT": "1000000/minute"}
    with running_backend(data_dir / "bigquery-arrow", sample_rows=ROWS, extra_env=env) as url, \
            httpx.Client(base_url=url, timeout=600) as http, warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)   # the storage client's page.to_arrow notice
        bq = bigquery.Client(project="bench", credentials=AnonymousCredentials(),
                             client_options=ClientOptions(api_endpoint=url))
        storage = bigquery_storage.BigQueryReadClient(
            transport=BigQueryReadGrpcTransport(channel=grpc.insecure_channel(f"127.0.0.1:{storage_port}")))
        _own(http)                     # warm up both sides (page cache, connections, imports)
        _client(bq, storage)
        own_total, own_download, client_total, client_download = [], [], [], []
        for _ in range(ROUNDS):
            total, download, own_table = _own(http)
            own_total.append(total)
            own_download.append(download)
            total, download, client_table = _client(bq, storage)
            client_total.append(total)
            client_download.append(download)
    if own_table.num_rows != ROWS or client_table.num_rows != ROWS \
            or client_table.column_names != own_table.column_names:
        raise RuntimeError(f"the two sides differ: {own_table.num_rows} vs {client_table.num_rows} rows, "
                           f"{own_table.column_names} vs {client_table.column_names}")
    ratio = min(client_total) / min(own_total)
    download_ratio = min(client_download) / min(own_download)
    print(f"1M x {own_table.num_columns} `SELECT *` to Arrow, end to end: own REST + Arrow export "
          f"{min(own_total) * 1000:.0f} ms, google-cloud-bigquery + Storage Read API "
          f"{min(client_total) * 1000:.0f} ms, ratio {ratio:.2f} (target <= {TARGET_RATIO})")
    print(f"  download of the finished result alone: export {min(own_download) * 1000:.0f} ms, "
          f"client to_arrow {min(client_download) * 1000:.0f} ms, ratio {download_ratio:.2f}")
    return {"own_ms": [t * 1000 for t in own_total], "client_ms": [t * 1000 for t in client_total],
            "own_download_ms": [t * 1000 for t in own_download],
            "client_download_ms": [t * 1000 for t in client_download],
            "ratio": ratio, "download_ratio": download_ratio, "target": TARGET_RATIO}


if __name__ == "__main__":
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    run()
