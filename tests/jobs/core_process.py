"""A BigQuery-Lite core in its own process, for tests that kill it or need other settings.

Usage: python -m tests.jobs.core_process DATA_DIR COMMAND
  submit-and-hang   submit a long job and a queued one, print their ids as JSON, then wait to be killed
  submit-and-stop   the same, but stop the core as the app's shutdown does, then print the ids
  resume            start again, wait for queued jobs to finish, print every job as JSON
  memory            run a query over a tiny memory limit, then a small one; print both jobs as JSON
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bqlite_app.access.principal import LOCAL
from bqlite_app.core import Core
from bqlite_app.jobs.service import QuerySpec
from bqlite_app.settings import Settings

LONG = "SELECT sum(hash(i)) FROM range(100000000000) t(i)"


def main(data_dir: str, command: str) -> None:
    settings = Settings(data_dir=Path(data_dir), sample_rows=0, max_concurrent_jobs=1,
                        query_memory_limit="64MB" if command == "memory" else "2GB")
    core = Core(settings)
    core.start()
    queries = core.queries
    if command in ("submit-and-hang", "submit-and-stop"):
        running = queries.submit(QuerySpec(sql=LONG), user=LOCAL)
        queued = queries.submit(QuerySpec(sql="SELECT 7 AS seven"), user=LOCAL)
        while queries.get(running.job_id, user=LOCAL).status != "running":
            time.sleep(0.05)
        if command == "submit-and-stop":
            core.stop()
            print(json.dumps({"running": running.job_id, "queued": queued.job_id}), flush=True)
            return
        print(json.dumps({"running": running.job_id, "queued": queued.job_id}), flush=True)
        time.sleep(600)
    elif command == "resume":
        jobs, _ = queries.list(user=LOCAL, limit=10)
        for job in jobs:
            queries.wait(job.job_id, 30, user=LOCAL)
        described = {job.job_id: queries.describe(queries.get(job.job_id, user=LOCAL)).model_dump(mode="json")
                     for job in jobs}
        print(json.dumps(described), flush=True)
    elif command == "memory":
        heavy = queries.submit(QuerySpec(
            sql="SELECT list(i) AS l FROM range(30000000) t(i)"), user=LOCAL)
        queries.wait(heavy.job_id, 120, user=LOCAL)
        light = queries.submit(QuerySpec(sql="SELECT 1 AS ok"), user=LOCAL)
        queries.wait(light.job_id, 30, user=LOCAL)
        print(json.dumps([queries.describe(queries.get(j.job_id, user=LOCAL)).model_dump(mode="json")
                          for j in (heavy, light)]), flush=True)
    core.stop()


if __name__ == "__main__":
    main(*sys.argv[1:3])
