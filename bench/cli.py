"""The `bqlite` command: how fast it starts, and what it adds to downloading a whole result.

- Startup: `bqlite --help` against the bare interpreter (`python -c pass`), in the same run. Target: well under 1 s.
- Download: `bqlite jobs result ID -o x.parquet` (its own process: startup, the job lookup, progress bar, atomic
  rename) against `curl -o` fetching the same export, also a process of its own. Both wait on the same server-side
  export, so the difference is what bqlite adds. Target: no more than its own startup, under 0.5 s.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.client import run_query

BQLITE = str(Path(sys.executable).parent / "bqlite")
SQL = "SELECT * FROM nyc_taxi"
ROUNDS = 7


def _median_seconds(command: list[str], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(url: str, data_dir: Path) -> dict:
    interpreter = _median_seconds([sys.executable, "-c", "pass"])
    help_s = _median_seconds([BQLITE, "--help"])
    print(f"startup: `bqlite --help` {help_s * 1000:.0f} ms (bare interpreter {interpreter * 1000:.0f} ms; "
          f"target: well under 1 s)")
    curl = shutil.which("curl")
    if curl is None:
        print("download: skipped, curl is not installed")
        return {"help_ms": help_s * 1000, "interpreter_ms": interpreter * 1000}
    with httpx.Client(base_url=url, timeout=300) as http:
        job_id = run_query(http, SQL)["job_id"]
    export_url = f"{url}/jobs/{job_id}/result?format=parquet"
    baseline = _median_seconds([curl, "-sf", "-o", str(data_dir / "curl_export.parquet"), export_url], rounds=5)
    target = data_dir / "cli_export.parquet"
    cli = _median_seconds([BQLITE, "--url", url, "jobs", "result", job_id, "-o", str(target)], rounds=5)
    size = target.stat().st_size
    print(f"1M-row Parquet download ({size / 1e6:.1f} MB): bqlite {cli * 1000:.0f} ms, curl {baseline * 1000:.0f} ms, "
          f"ratio {cli / baseline:.2f}, bqlite adds {(cli - baseline) * 1000:.0f} ms (target < 500 ms)")
    return {"help_ms": help_s * 1000, "interpreter_ms": interpreter * 1000, "download_ms": cli * 1000,
            "curl_ms": baseline * 1000, "download_ratio": cli / baseline, "added_ms": (cli - baseline) * 1000,
            "bytes": size, "target_added_ms": 500}
