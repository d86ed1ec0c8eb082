"""Run every benchmark against one real backend and print ratios against baselines measured in the same run.

    make bench            # or: .venv/bin/python -m bench [job_overhead|throughput|export|jsonify ...]
"""

from __future__ import annotations

import json
import platform
import sys

from bench import (
    auth,
    bigquery_arrow,
    cli,
    clickhouse_server,
    export,
    health,
    ingest,
    job_overhead,
    jsonify,
    sandbox,
    sort,
    throughput,
)
from bench.server import ROOT, running_backend

BENCHMARKS = {"job_overhead": job_overhead.run, "throughput": throughput.run, "export": export.run, "sort": sort.run,
              "ingest": ingest.run, "cli": cli.run, "jsonify": jsonify.run, "sandbox": sandbox.run,
              "auth": auth.run, "bigquery_arrow": bigquery_arrow.run, "clickhouse_server": clickhouse_server.run,
              "health": health.run}


def main(names: list[str]) -> None:
    data_dir = ROOT / "data" / "bench"
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    results = {}
    with running_backend(data_dir / "server") as url:
        for name in names or list(BENCHMARKS):
            print(f"\n== {name}")
            results[name] = BENCHMARKS[name](url, data_dir)
    (data_dir / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
