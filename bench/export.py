"""Export: a 1M-row result downloaded as Parquet through the API vs DuckDB's own COPY TO. Target ratio <= 1.5."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from bench.client import run_query
from bench.job_overhead import direct_connection

SQL = "SELECT * FROM nyc_taxi"


def run(url: str, data_dir: Path) -> dict:
    con = direct_connection(data_dir)
    target = data_dir / "export_api.parquet"
    with httpx.Client(base_url=url, timeout=300) as http:
        job_id = run_query(http, SQL)["job_id"]
        api_times, copy_times = [], []
        for _ in range(3):
            started = time.perf_counter()
            with http.stream("GET", f"/jobs/{job_id}/result", params={"format": "parquet"}) as response:
                response.raise_for_status()
                with target.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
            api_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            con.execute(f"COPY ({SQL}) TO '{data_dir / 'export_copy.parquet'}' (FORMAT parquet)")
            copy_times.append(time.perf_counter() - started)
    rows = pq.ParquetFile(target).metadata.num_rows
    api, copy = min(api_times), min(copy_times)
    print(f"1M-row Parquet export: API {api * 1000:.0f} ms ({rows} rows), DuckDB COPY {copy * 1000:.0f} ms, "
          f"ratio {api / copy:.2f} (target <= 1.5)")
    return {"api_ms": api * 1000, "copy_ms": copy * 1000, "ratio": api / copy, "rows": rows, "target": 1.5}
