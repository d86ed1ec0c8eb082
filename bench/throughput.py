"""Small-job throughput: 8 concurrent clients submit `SELECT 1` and fetch each result. Target >= 300 jobs/s."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from bench.client import run_query

CLIENTS = 8
JOBS_PER_CLIENT = 250


def run(url: str, data_dir: Path) -> dict:
    done: list[int] = [0] * CLIENTS
    errors: list[str] = []

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for _ in range(JOBS_PER_CLIENT):
                try:
                    body = run_query(http, "SELECT 1")
                    if body["rows"] != [[1]]:
                        errors.append(f"wrong result {body['rows']}")
                    done[index] += 1
                except Exception as exc:  # a lost job is a result, not a crash
                    errors.append(repr(exc))

    with httpx.Client(base_url=url) as http:  # warm up
        for _ in range(20):
            run_query(http, "SELECT 1")
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total = sum(done)
    rate = total / elapsed
    print(f"{CLIENTS} clients, {total} jobs in {elapsed:.2f} s: {rate:.0f} jobs/s (target >= 300), "
          f"lost {CLIENTS * JOBS_PER_CLIENT - total}, errors {len(errors)}")
    return {"jobs": total, "seconds": elapsed, "jobs_per_s": rate, "lost": CLIENTS * JOBS_PER_CLIENT - total,
            "errors": errors[:5], "target": 300}
