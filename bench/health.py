"""`GET /health` against the server's cheapest route `GET /`, 8 client threads, alternating rounds in one run.

A monitor polling /health should cost what `GET /` costs: the engines are probed in the background
(bqlite_app/health.py), not per request. Target: /health at >= 0.9x the `GET /` request rate.

    .venv/bin/python -m bench.health       # starts its own backend; or run as part of `python -m bench`
"""

from __future__ import annotations

import platform
import threading
import time
from pathlib import Path

import httpx

from bench.server import ROOT, running_backend

CLIENTS = 8
REQUESTS_PER_CLIENT = 300
ROUNDS = 5
TARGET = 0.9


def _rate(url: str, path: str) -> tuple[float, list[str]]:
    """Requests per second for ``path`` with CLIENTS threads, each on its own keep-alive connection."""
    errors: list[str] = []
    start = threading.Barrier(CLIENTS + 1)

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            http.get(path)                    # connect before the clock starts
            start.wait()
            for _ in range(REQUESTS_PER_CLIENT):
                try:
                    answer = http.get(path)
                    if answer.status_code != 200:
                        errors.append(f"{path}: HTTP {answer.status_code}")
                except httpx.HTTPError as exc:  # a failed request is a result, not a crash
                    errors.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return CLIENTS * REQUESTS_PER_CLIENT / (time.perf_counter() - started), errors


def run(url: str, data_dir: Path) -> dict:
    health = httpx.get(f"{url}/health", timeout=10).json()
    assert health["status"] == "healthy", health
    root_rates, health_rates, errors = [], [], []
    for _ in range(ROUNDS):                   # alternate, so load from other work on the machine hits both alike
        for path, rates in (("/", root_rates), ("/health", health_rates)):
            rate, failed = _rate(url, path)
            rates.append(rate)
            errors += failed
    root, health_rate = max(root_rates), max(health_rates)
    ratio = health_rate / root
    print(f"{CLIENTS} clients x {REQUESTS_PER_CLIENT} requests, best of {ROUNDS}: GET / {root:.0f} req/s "
          f"({min(root_rates):.0f}-{root:.0f}), GET /health {health_rate:.0f} req/s "
          f"({min(health_rates):.0f}-{health_rate:.0f}): ratio {ratio:.2f} (target >= {TARGET}), errors {len(errors)}")
    return {"root_req_per_s": root_rates, "health_req_per_s": health_rates, "ratio": ratio, "target": TARGET,
            "errors": errors[:5]}


if __name__ == "__main__":
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    with running_backend(ROOT / "data" / "bench" / "health", sample_rows=1000) as base_url:
        run(base_url, ROOT / "data" / "bench")
