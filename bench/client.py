"""A minimal REST client for the benchmarks: submit, wait (in the submission, or by long-poll), the first page."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx


def run_query(http: httpx.Client, sql: str, engine: str = "duckdb", *, wait_ms: int = 0) -> dict:
    """The job's first page (up to 1,000 rows). ``wait_ms``: the submission waits that long, so a job that ends
    within it needs no other request; otherwise the result route is long-polled."""
    answer = http.post("/queries", json={"sql": sql, "engine": engine, "wait_ms": wait_ms}).raise_for_status().json()
    job_id = answer["job_id"]
    if answer.get("result") is not None:
        return _completed(job_id, answer["result"])
    while True:
        response = http.get(f"/jobs/{job_id}/result", params={"timeout_ms": 30_000, "limit": 1000})
        response.raise_for_status()
        if response.status_code == 200:
            return _completed(job_id, response.json())


def _completed(job_id: str, page: dict) -> dict:
    if page["status"] != "completed":
        raise RuntimeError(f"job {job_id} {page['status']}: {page.get('error')}")
    return page


def jobs_per_second(client: Callable[[], None], clients: int, jobs_per_client: int) -> float:
    """Run ``client`` (one client's whole share of jobs) on ``clients`` threads at once; the jobs per second."""
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return clients * jobs_per_client / (time.perf_counter() - started)
