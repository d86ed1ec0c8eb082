"""Converting a result page to JSON-native rows: a 10,000 x 20 page of mixed types (ints beyond 2^53, strings,
floats, UTC timestamps, decimals), through ``rows_from_table`` against pyarrow's own generic conversion,
``Table.to_pylist()``, on the same table in the same run. ``to_pylist`` does less (it stops at datetime and Decimal
objects, which JSON cannot hold) yet goes value by value; the column-wise conversion should beat it clearly.
Target: ratio <= 0.5, which is about 100 ms for the page on the 2-core reference machine.

This figure used to be a timed test (``tests/jobs/test_jsonify.py``); the suite asserts no timings.
Needs no server: ``python -m bench.jsonify`` (``make bench`` runs it too).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from bqlite_app.jobs.jsonify import rows_from_table

ROWS = 10_000
ROUNDS = 5


def page_table(rows: int = ROWS) -> pa.Table:
    rng = np.random.default_rng(0)
    columns = {}
    for i in range(4):
        columns[f"i{i}"] = pa.array(rng.integers(-(2**62), 2**62, rows))
        columns[f"s{i}"] = pa.array([f"value {j}" for j in range(rows)])
        columns[f"f{i}"] = pa.array(rng.random(rows))
        columns[f"t{i}"] = pa.array(rng.integers(0, 2**50, rows), pa.timestamp("us", "UTC"))
        columns[f"n{i}"] = pa.array(rng.integers(0, 1000, rows)).cast(pa.float64()).cast(pa.decimal128(12, 2))
    return pa.table(columns)


def _best_seconds(convert, table: pa.Table) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        convert(table)
        best = min(best, time.perf_counter() - started)
    return best


def run(_url: str | None = None, _data_dir: Path | None = None) -> dict:
    table = page_table()
    rows = rows_from_table(table)
    assert len(rows) == ROWS and len(rows[0]) == table.num_columns
    baseline = _best_seconds(lambda t: t.to_pylist(), table)
    ours = _best_seconds(rows_from_table, table)
    ratio = ours / baseline
    print(f"{ROWS:,} x {table.num_columns} page: pyarrow to_pylist {baseline * 1000:.0f} ms, "
          f"rows_from_table {ours * 1000:.0f} ms, ratio {ratio:.2f} (target <= 0.5)")
    return {"to_pylist_ms": baseline * 1000, "rows_from_table_ms": ours * 1000, "ratio": ratio, "target": 0.5}


if __name__ == "__main__":
    run()
