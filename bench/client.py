"""A minimal REST client for the benchmarks: submit, wait (long-poll), fetch the first page."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx


def run_query(http: httpx.Client, sql: str, engine: str = "duckdb") -> dict:
    job_id = http.post("/queries", json={"sql": sql, "engine": engine}).raise_for_status().json()["job_id"]
    while True:
        response = http.get(f"/jobs/{job_id}/result", params={"timeout_ms": 30_000, "limit": 1000})
        response.raise_for_status()
        if response.status_code == 200:
            body = response.json()
            if body["status"] != "completed":
                raise RuntimeError(f"job {job_id} {body['status']}: {body.get('error')}")
            return body


def jobs_per_second(client: Callable[[], None], clients: int, jobs_per_client: int) -> float:
    """Run ``client`` (one client's whole share of jobs) on ``clients`` threads at once; the jobs per second."""
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return clients * jobs_per_client / (time.perf_counter() - started)
