"""What authentication costs a small job: the same `SELECT 1` throughput with auth off and with auth on (a bearer
JWT on every request, the user read per request, grants checked before each job). Target: on / off >= 0.9.

The run's own backend is the auth-off side; a second backend with `BQLITE_AUTH=on` starts beside it. The two are
measured in alternating rounds, so drift on the shared machine hits both alike.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from bench.client import jobs_per_second, run_query
from bench.server import running_backend

CLIENTS = 8
JOBS_PER_CLIENT = 100
ROUNDS = 3
TARGET_RATIO = 0.9
ADMIN_PASSWORD = "bench-admin-password-123"


def _rate(url: str, headers: dict[str, str]) -> float:
    def client() -> None:
        with httpx.Client(base_url=url, timeout=60, headers=headers) as http:
            for _ in range(JOBS_PER_CLIENT):
                run_query(http, "SELECT 1")

    return jobs_per_second(client, CLIENTS, JOBS_PER_CLIENT)


def run(url: str, data_dir: Path) -> dict:
    env = {"BQLITE_AUTH": "on", "BQLITE_ADMIN_PASSWORD": ADMIN_PASSWORD, "BQLITE_RATE_LIMIT": "1000000/minute"}
    with running_backend(data_dir / "auth-on", sample_rows=1000, extra_env=env) as auth_url:
        token = httpx.post(f"{auth_url}/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
                           ).raise_for_status().json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        for target, headers in ((url, {}), (auth_url, bearer)):   # warm up both
            with httpx.Client(base_url=target, headers=headers) as http:
                for _ in range(20):
                    run_query(http, "SELECT 1")
        off, on = [], []
        for _ in range(ROUNDS):
            off.append(_rate(url, {}))
            on.append(_rate(auth_url, bearer))
    ratio = sum(on) / sum(off)
    print(f"auth off {min(off):.0f}-{max(off):.0f} jobs/s, auth on {min(on):.0f}-{max(on):.0f} jobs/s, "
          f"ratio {ratio:.2f} (target >= {TARGET_RATIO})")
    return {"off_jobs_per_s": off, "on_jobs_per_s": on, "ratio": ratio, "target": TARGET_RATIO}
