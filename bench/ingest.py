"""Protobuf ingest: 1M trip messages through ``POST /schemas/{id}/ingest`` vs pure-Python decode + DuckDB insert.

The baseline, measured in the same run, is what a user would write without us: upb ``FromString`` per message,
columns built into Arrow, one transaction of inserts into a private DuckDB file. Target: end to end into DuckDB
>= 4x the baseline. ClickHouse ingest and the server's memory during the upload are reported too.

    .venv/bin/python -m bench ingest                      # 1M messages, with the baseline
    .venv/bin/python -m bench.ingest --rows 10000000      # a larger body: rate and peak memory, no baseline
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Iterator
from operator import attrgetter
from pathlib import Path

import duckdb
import httpx
import numpy as np
import psutil
import pyarrow as pa
from google.protobuf.internal.decoder import _DecodeVarint32
from google.protobuf.internal.encoder import _VarintBytes

from bench.client import run_query
from bqlite_app.schemas import translate
from bqlite_app.schemas.compiler import CompiledSchema, ProtoFile, compile_schema
from bqlite_app.schemas.ingest import decode_batches
from bqlite_app.schemas.native import native_batches

ROWS = 1_000_000
BATCH = 65_536
DATABASE, TABLE = "bench", "ingest_trips"
TRIP_PROTO = b"""
syntax = "proto3";
package bench.v1;
import "google/protobuf/timestamp.proto";

enum PaymentType {
  PAYMENT_TYPE_UNSPECIFIED = 0;
  CREDIT_CARD = 1;
  CASH = 2;
  NO_CHARGE = 3;
  DISPUTE = 4;
}

message Trip {
  int64 trip_id = 1;
  int32 vendor_id = 2;
  google.protobuf.Timestamp pickup_time = 3;
  int32 passenger_count = 4;
  double trip_distance = 5;
  int32 pu_location_id = 6;
  int32 do_location_id = 7;
  PaymentType payment_type = 8;
  double fare_amount = 9;
  string store_and_fwd_flag = 10;
}
"""


def trip_schema() -> CompiledSchema:
    return compile_schema(ProtoFile("bench/v1/trip.proto", TRIP_PROTO))


def body_file(data_dir: Path, rows: int = ROWS) -> Path:
    """A delimited body of ``rows`` trips, generated once (deterministically) and cached under ``data_dir``.
    A multiple of 1M repeats the 1M body (trip ids repeat; nothing keys on them)."""
    path = data_dir / f"ingest_trips_{rows}_v1.bin"
    if path.exists():
        return path
    if rows > ROWS and rows % ROWS == 0:
        one = body_file(data_dir, ROWS)
        partial = path.with_suffix(".part")
        with partial.open("wb") as out:
            for _ in range(rows // ROWS):
                with one.open("rb") as source:
                    while chunk := source.read(16 << 20):
                        out.write(chunk)
        partial.rename(path)
        return path
    trip = trip_schema().message_class("bench.v1.Trip")
    rng = random.Random(20240101)
    start = 1_704_067_200            # 2024-01-01T00:00:00Z
    partial = path.with_suffix(".part")
    with partial.open("wb") as out:
        for i in range(rows):
            message = trip(
                trip_id=i, vendor_id=rng.randint(1, 2), passenger_count=rng.randint(0, 6),
                trip_distance=round(rng.expovariate(1 / 3), 2), pu_location_id=rng.randint(1, 265),
                do_location_id=rng.randint(1, 265), payment_type=rng.choices(range(5), (5, 70, 20, 3, 2))[0],
                fare_amount=round(rng.uniform(3, 90), 2), store_and_fwd_flag="Y" if rng.random() < 0.02 else "N",
            )
            message.pickup_time.seconds = start + i * 2 + rng.randint(0, 1)
            message.pickup_time.nanos = rng.randrange(0, 1_000_000_000, 1000)
            payload = message.SerializeToString()
            out.write(_VarintBytes(len(payload)) + payload)
    partial.rename(path)
    return path


# -- baseline: pure Python decode, then DuckDB ---------------------------------------------------------------------


def python_baseline(body: Path, db_path: Path) -> tuple[float, float]:
    """Seconds (wall, CPU of this process) to decode ``body`` with upb message by message, build Arrow and insert it
    into DuckDB."""
    trip = trip_schema().message_class("bench.v1.Trip")
    labels = {v.number: v.name for v in trip.DESCRIPTOR.fields_by_name["payment_type"].enum_type.values}
    db_path.unlink(missing_ok=True)
    con = duckdb.connect(str(db_path))
    started, cpu = time.perf_counter(), time.process_time()
    data = body.read_bytes()
    con.execute("BEGIN")
    created = False
    for messages in _batches(data, trip.FromString):
        batch = _to_arrow(messages, labels)  # noqa: F841 (DuckDB scans the local by name)
        if not created:
            con.execute("CREATE TABLE trips AS SELECT * FROM batch")
            created = True
        else:
            con.execute("INSERT INTO trips SELECT * FROM batch")
    con.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    count = con.execute("SELECT count(*) FROM trips").fetchall()[0][0]
    con.close()
    if count != ROWS:
        raise RuntimeError(f"baseline inserted {count} rows, expected {ROWS}")
    return elapsed, cpu


def _batches(data: bytes, parse) -> Iterator[list]:
    pos, end, batch = 0, len(data), []
    while pos < end:
        size, pos = _DecodeVarint32(data, pos)
        batch.append(parse(data[pos:pos + size]))
        pos += size
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _to_arrow(messages: list, labels: dict[int, str]) -> pa.RecordBatch:
    def column(name: str, arrow: pa.DataType) -> pa.Array:
        return pa.array(list(map(attrgetter(name), messages)), arrow)

    stamps = list(map(attrgetter("pickup_time"), messages))
    seconds = np.fromiter(map(attrgetter("seconds"), stamps), np.int64, len(stamps))
    nanos = np.fromiter(map(attrgetter("nanos"), stamps), np.int64, len(stamps))
    return pa.RecordBatch.from_pydict({
        "trip_id": column("trip_id", pa.int64()), "vendor_id": column("vendor_id", pa.int32()),
        "pickup_time": pa.array(seconds * 1_000_000 + nanos // 1000, pa.timestamp("us", tz="UTC")),
        "passenger_count": column("passenger_count", pa.int32()),
        "trip_distance": column("trip_distance", pa.float64()),
        "pu_location_id": column("pu_location_id", pa.int32()),
        "do_location_id": column("do_location_id", pa.int32()),
        "payment_type": pa.array([labels.get(v) or str(v) for v in map(attrgetter("payment_type"), messages)]),
        "fare_amount": column("fare_amount", pa.float64()),
        "store_and_fwd_flag": column("store_and_fwd_flag", pa.string()),
    })


# -- decode alone, in this process ---------------------------------------------------------------------------------


def decode_only(body: Path, data_dir: Path, rows: int = ROWS) -> dict:
    """Rows/s of the two decoders without HTTP or inserts: native (a private embedded chdb) and the Python path."""
    from engines.clickhouse_engine import ClickHouseEngine

    compiled = trip_schema()
    columns = translate.columns_for(compiled.descriptor("bench.v1.Trip"))
    engine = ClickHouseEngine.embedded(data_dir / "ingest_chdb", capacity=1)
    engine.start()
    try:
        def native() -> int:
            batches = native_batches(engine, compiled, "bench.v1.Trip", body, "delimited", columns,
                                     work_dir=data_dir / "ingest_schemas")
            if batches is None:
                raise RuntimeError("the native path declined the trip schema")
            return sum(b.num_rows for b in batches)

        native()                                   # chdb's first query and schema parse
        native_s = min(_timed(native, rows) for _ in range(3))
    finally:
        engine.close()

    def python() -> int:
        with body.open("rb") as source:
            return sum(b.num_rows for b in decode_batches(compiled, "bench.v1.Trip", source, "delimited",
                                                          max_depth=translate.DEFAULT_MAX_DEPTH))

    python_s = _timed(python, rows)
    return {"native_rows_per_s": rows / native_s, "python_rows_per_s": rows / python_s}


def _timed(action, expected: int) -> float:
    started = time.perf_counter()
    rows = action()
    if rows != expected:
        raise RuntimeError(f"decoded {rows} rows, expected {expected}")
    return time.perf_counter() - started


# -- through the API -------------------------------------------------------------------------------------------


def register(http: httpx.Client) -> str:
    files = {"file": ("bench/v1/trip.proto", TRIP_PROTO, "text/plain")}
    answer = http.post("/schemas/register", files=files,
                       data={"table_name": TABLE, "database_name": DATABASE}).raise_for_status().json()
    schema_id = answer["schema_id"]
    created = http.post(f"/schemas/{schema_id}/tables/create",
                        json={"engines": ["duckdb", "clickhouse"], "replace": True}).raise_for_status().json()
    errors = {engine: r["error"] for engine, r in created["results"].items() if r.get("error")}
    if errors:
        raise RuntimeError(f"tables/create failed: {errors}")
    return schema_id


def ingest(http: httpx.Client, schema_id: str, body: Path, engine: str, backend: psutil.Process | None) -> dict:
    """One timed ingest into ``engine``; the server's RSS is sampled while it runs."""
    sampler = _RssSampler(backend)
    sampler.start()
    cpu = _cpu_s(backend)
    started = time.perf_counter()
    response = http.post(f"/schemas/{schema_id}/ingest", params={"format": "delimited", "engines": engine},
                         content=_chunks(body),
                         headers={"content-type": "application/octet-stream",
                                  "content-length": str(body.stat().st_size)})
    elapsed = time.perf_counter() - started
    cpu = _cpu_s(backend) - cpu
    sampler.stop()
    response.raise_for_status()
    answer = response.json()
    return {"seconds": elapsed, "server_cpu_s": cpu, "rows": answer["rows_ingested"],
            "server_ms": answer["duration_ms"],
            "rss_before_mb": sampler.before / 2**20, "rss_peak_mb": sampler.peak / 2**20}


def _cpu_s(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(size):
            yield chunk


class _RssSampler:
    """Peak resident memory of the backend process while a request runs (every 20 ms)."""

    def __init__(self, process: psutil.Process | None) -> None:
        self._process = process
        self.before = self.peak = process.memory_info().rss if process else 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        if self._process is not None:
            self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._done.wait(0.02):
            try:
                self.peak = max(self.peak, self._process.memory_info().rss)
            except psutil.Error:
                return


def backend_process(url: str) -> psutil.Process | None:
    """The process serving ``url``: of those listening on its port, the one holding the most memory (the worker
    holds the engines; a supervisor may share the socket)."""
    port = int(url.rsplit(":", 1)[1])
    pids = {c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port
            and c.status == psutil.CONN_LISTEN and c.pid}
    processes = [psutil.Process(pid) for pid in pids]
    return max(processes, key=lambda p: p.memory_info().rss, default=None)


def _vm_hwm_mb(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def run(url: str, data_dir: Path, rows: int = ROWS, rounds: int = 3) -> dict:
    """``rounds`` ingests into DuckDB, each right after a baseline run (for 1M) so that the two meet the same load on a
    shared machine; then one ingest into ClickHouse. Ratios are per pair, of wall time and of CPU time (the server
    process's against the baseline's)."""
    body = body_file(data_dir, rows)
    warm = body_file(data_dir, 20_000)
    with_baseline = rows == ROWS
    decode = decode_only(body, data_dir) if with_baseline else {}
    backend = backend_process(url)
    baselines: list[tuple[float, float]] = []
    ducks: list[dict] = []
    with httpx.Client(base_url=url, timeout=3600) as http:
        schema_id = register(http)
        for engine in ("duckdb", "clickhouse"):       # warm both paths (imports, chdb's schema cache), then reset
            ingest(http, schema_id, warm, engine, None)
        schema_id = register(http)
        for _ in range(rounds):
            if with_baseline:
                baselines.append(python_baseline(body, data_dir / "ingest_baseline.duckdb"))
            ducks.append(ingest(http, schema_id, body, "duckdb", backend))
        house = ingest(http, schema_id, body, "clickhouse", backend)
        counts = {engine: run_query(http, f"SELECT count(*) FROM {DATABASE}.{TABLE}", engine)["rows"][0][0]
                  for engine in ("duckdb", "clickhouse")}
    if counts != {"duckdb": rounds * rows, "clickhouse": rows}:
        raise RuntimeError(f"the tables hold {counts} rows, expected {rounds} x {rows} and {rows}")
    duck_s = [d["seconds"] for d in ducks]
    duck_rate, house_rate = rows / _median(duck_s), rows / house["seconds"]
    mb = body.stat().st_size / 2**20
    rss_peak_duck = max(d["rss_peak_mb"] for d in ducks)
    print(f"{rows:,} trip messages ({mb:.0f} MiB)")
    result = {"rows": rows, "body_mib": mb, "duckdb_s": duck_s, "duckdb_rows_per_s": duck_rate,
              "duckdb_server_ms": [d["server_ms"] for d in ducks],
              "duckdb_server_cpu_s": [d["server_cpu_s"] for d in ducks], "clickhouse_s": house["seconds"],
              "clickhouse_rows_per_s": house_rate, "clickhouse_server_ms": house["server_ms"], "target_ratio": 4.0,
              "rss_before_mb": ducks[0]["rss_before_mb"], "rss_peak_duckdb_mb": rss_peak_duck,
              "rss_peak_clickhouse_mb": house["rss_peak_mb"], "vm_hwm_mb": _vm_hwm_mb(backend), **decode}
    line = (f"  API -> DuckDB     {_list(duck_s)} s (median {duck_rate / 1e6:.2f} M rows/s), "
            f"server CPU {_list(d['server_cpu_s'] for d in ducks)} s")
    if baselines:
        ratios = [b / d for (b, _), d in zip(baselines, duck_s, strict=True)]
        cpu_ratios = [c / d["server_cpu_s"] for (_, c), d in zip(baselines, ducks, strict=True) if d["server_cpu_s"]]
        print(f"  Python decode + DuckDB (baseline) {_list(b for b, _ in baselines)} s, "
              f"CPU {_list(c for _, c in baselines)} s")
        print(f"  decode only: native {decode['native_rows_per_s'] / 1e6:.2f} M rows/s, "
              f"Python path {decode['python_rows_per_s'] / 1e6:.2f} M rows/s")
        print(f"{line}\n  ratio per pair {_list(ratios)} (median {_median(ratios):.2f}; target >= 4), "
              f"CPU ratio {_list(cpu_ratios)}")
        result.update(baseline_s=[b for b, _ in baselines], baseline_cpu_s=[c for _, c in baselines],
                      ratio=_median(ratios), ratios=ratios, cpu_ratios=cpu_ratios)
    else:
        print(line)
    print(f"  API -> ClickHouse {house['seconds']:.2f} s ({house_rate / 1e6:.2f} M rows/s, "
          f"server {house['server_ms']} ms)")
    print(f"  server RSS: {ducks[0]['rss_before_mb']:.0f} MiB before, peak {rss_peak_duck:.0f} MiB (DuckDB ingest), "
          f"{house['rss_peak_mb']:.0f} MiB (ClickHouse ingest); VmHWM {_vm_hwm_mb(backend) or 0:.0f} MiB")
    return result


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _list(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> None:
    from bench.server import ROOT, running_backend

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS, help="messages per body (a multiple of 1M above 1M)")
    parser.add_argument("--rounds", type=int, default=3, help="ingests into DuckDB")
    args = parser.parse_args()
    data_dir = ROOT / "data" / "bench"
    data_dir.mkdir(parents=True, exist_ok=True)
    with running_backend(data_dir / "server") as url:
        run(url, data_dir, args.rows, args.rounds)


if __name__ == "__main__":
    main()
