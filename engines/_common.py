"""Pieces both engine adapters share: the running-query registry, time limits and small SQL-text helpers."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

# How long cancel() keeps re-sending the engine's stop signal. A stop that lands in the instant between our
# registration and the engine starting the statement is lost, so it is repeated until the query is gone.
STOP_RETRY_S = 2.0
STOP_RETRY_INTERVAL_S = 0.05

EMPTY_BATCH = pa.RecordBatch.from_pylist([], schema=pa.schema([]))


@dataclass(eq=False)
class RunningQuery:
    tag: str
    stop: Callable[[], None]            # the engine's own interrupt for this query
    cancelled: bool = False
    timed_out: bool = False
    timeout_s: float | None = None
    handle: Any = None                  # the engine's cursor/client for progress lookups
    # True while a batch is with the consumer: the engine is idle, and the flags are checked when it asks again.
    suspended: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class QueryRegistry:
    """Queries in flight by tag, with stop-until-gone semantics shared by cancel and the time limit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, list[RunningQuery]] = {}

    def add(self, tag: str, stop: Callable[[], None], timeout_s: float | None = None, handle: Any = None,
            ) -> RunningQuery:
        run = RunningQuery(tag=tag, stop=stop, timeout_s=timeout_s, handle=handle)
        with self._lock:
            self._runs.setdefault(tag, []).append(run)
        return run

    def remove(self, run: RunningQuery) -> None:
        run.done.set()
        with self._lock:
            runs = self._runs.get(run.tag, [])
            if run in runs:
                runs.remove(run)
            if not runs:
                self._runs.pop(run.tag, None)

    def get(self, tag: str) -> list[RunningQuery]:
        with self._lock:
            return list(self._runs.get(tag, []))

    def cancel(self, tag: str) -> bool:
        runs = self.get(tag)
        for run in runs:
            run.cancelled = True
        for run in runs:
            stop_until_done(run)
        return bool(runs)

    def start_timer(self, run: RunningQuery) -> threading.Timer | None:
        if not run.timeout_s or run.timeout_s <= 0:
            return None

        def fire() -> None:
            if run.done.is_set():
                return
            run.timed_out = True
            stop_until_done(run)

        timer = threading.Timer(run.timeout_s, fire)
        timer.daemon = True
        timer.start()
        return timer


def stop_until_done(run: RunningQuery) -> None:
    deadline = time.monotonic() + STOP_RETRY_S
    while not run.done.is_set() and time.monotonic() < deadline:
        try:
            run.stop()
        except Exception:  # a failed stop attempt is retried; the query's own error reaches its caller
            pass
        if run.suspended:
            return
        run.done.wait(STOP_RETRY_INTERVAL_S)


def hand_over(run: RunningQuery, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Yield batches to the consumer, marking the query suspended meanwhile so a stop does not wait on it."""
    for batch in batches:
        run.suspended = True
        yield batch
        run.suspended = False


_UNITS = {
    "": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}


def parse_bytes(text: str | int) -> int:
    """'4GB' -> 4e9, '512MiB' -> 512*2**20; decimal units as DuckDB reads them."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a byte size: {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)


def first_keyword(sql: str) -> str:
    """The statement's first word, upper-cased, skipping comments, whitespace and opening parentheses."""
    rest = sql[_LEADING_NOISE.match(sql).end():]
    match = re.match(r"[A-Za-z_]+", rest)
    return match.group(0).upper() if match else ""


def line_col_to_position(sql: str, line: int, col: int) -> int | None:
    """1-based line and column to a 1-based character offset."""
    lines = sql.split("\n")
    if not 1 <= line <= len(lines):
        return None
    offset = sum(len(text) + 1 for text in lines[: line - 1])
    return offset + max(col, 1)


def byte_to_char_position(text: str, byte_pos: int) -> int:
    """Engines count bytes; callers count characters (they differ once the SQL holds non-ASCII)."""
    return len(text.encode("utf-8")[: max(byte_pos - 1, 0)].decode("utf-8", errors="ignore")) + 1


def position_of_name(sql: str, name: str) -> int | None:
    """Where an identifier the engine complained about first appears, as a whole word (1-based)."""
    bare = name.strip("`\"'")
    if not bare:
        return None
    # Match the last dotted part too: engines echo `db.t` while the user may have written t.
    for candidate in dict.fromkeys([bare, bare.split(".")[-1]]):
        match = re.search(rf"(?<![\w.]){re.escape(candidate)}(?!\w)", sql, re.IGNORECASE)
        if match:
            return match.start() + 1
    return None


def slice_batch(batch: pa.RecordBatch, rows: int) -> list[pa.RecordBatch]:
    if rows <= 0 or batch.num_rows <= rows:
        return [batch]
    return [batch.slice(start, rows) for start in range(0, batch.num_rows, rows)]
