"""Small-job throughput: 8 concurrent clients run `SELECT 1` jobs, against the same server's `GET /` rate.

Three measurements in one run, each with 8 threads on their own keep-alive connections:
- baseline: `GET /`, the cheapest route (no job, no database);
- `wait_ms`: one `POST /queries` with `wait_ms`, whose answer carries the result (one round trip);
- long-poll: `POST /queries`, then `GET /jobs/{id}/result?timeout_ms=` (two round trips), as before `wait_ms`.

Targets: `wait_ms` jobs/s >= 0.5x the `GET /` rate, and >= 300 jobs/s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.client import run_query

CLIENTS = 8
JOBS_PER_CLIENT = 250
WAIT_MS = 10_000


def _rate(call: Callable[[httpx.Client], None], url: str, errors: list[str]) -> tuple[int, float]:
    """Run ``call`` JOBS_PER_CLIENT times on each of CLIENTS threads; (calls that succeeded, seconds)."""
    done = [0] * CLIENTS

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for _ in range(JOBS_PER_CLIENT):
                try:
                    call(http)
                    done[index] += 1
                except Exception as exc:  # a lost job is a result, not a crash
                    errors.append(repr(exc))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), time.perf_counter() - started


def _job(wait_ms: int) -> Callable[[httpx.Client], None]:
    def call(http: httpx.Client) -> None:
        body = run_query(http, "SELECT 1", wait_ms=wait_ms)
        if body["rows"] != [[1]]:
            raise RuntimeError(f"wrong result {body['rows']}")
    return call


def _root(http: httpx.Client) -> None:
    http.get("/").raise_for_status()


def run(url: str, data_dir: Path) -> dict:
    with httpx.Client(base_url=url) as http:  # warm up
        for _ in range(20):
            run_query(http, "SELECT 1")
            run_query(http, "SELECT 1", wait_ms=WAIT_MS)
            http.get("/")
    planned = CLIENTS * JOBS_PER_CLIENT
    figures: dict[str, dict] = {}
    for name, call in (("get_root", _root), ("wait_ms", _job(WAIT_MS)), ("long_poll", _job(0))):
        errors: list[str] = []
        total, elapsed = _rate(call, url, errors)
        figures[name] = {"calls": total, "seconds": elapsed, "per_s": total / elapsed, "lost": planned - total,
                         "errors": errors[:5]}
        unit = "req" if name == "get_root" else "jobs"
        print(f"{name:>9}: {CLIENTS} clients, {total} in {elapsed:.2f} s: {total / elapsed:.0f} {unit}/s, "
              f"lost {planned - total}, errors {len(errors)}")
    ratio = figures["wait_ms"]["per_s"] / figures["get_root"]["per_s"]
    print(f"wait_ms jobs/s / GET / req/s = {ratio:.2f} (target >= 0.5); wait_ms {figures['wait_ms']['per_s']:.0f} "
          f"jobs/s (target >= 300); long-poll {figures['long_poll']['per_s']:.0f} jobs/s")
    return {**figures, "ratio_wait_ms_to_get_root": ratio, "jobs_per_s": figures["wait_ms"]["per_s"],
            "target": {"ratio": 0.5, "jobs_per_s": 300}}
