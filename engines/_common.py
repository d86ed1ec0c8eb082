"""Pieces both engine adapters share: the running-query registry, time limits and small SQL-text helpers."""

from __future__ import annotations

import heapq
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from engines.errors import QueryCancelled, QueryTimeout

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

    def start_timer(self, run: RunningQuery) -> Deadline | None:
        """Stop ``run`` once its time limit passes. Returns a handle whose ``cancel()`` disarms it."""
        if not run.timeout_s or run.timeout_s <= 0:
            return None

        def fire() -> None:
            if run.done.is_set():
                return
            run.timed_out = True
            stop_until_done(run)

        return _DEADLINES.arm(time.monotonic() + run.timeout_s, fire)


@dataclass(order=True)
class Deadline:
    at: float
    sequence: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class _DeadlineWatcher:
    """One thread for every query time limit: a thread per query would cost more than a small query itself."""

    def __init__(self) -> None:
        self._heap: list[Deadline] = []
        self._wake = threading.Condition()
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, at: float, action: Callable[[], None]) -> Deadline:
        deadline = Deadline(at, next(self._sequence), action)
        with self._wake:
            heapq.heappush(self._heap, deadline)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="engine-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()
        return deadline

    def _loop(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0].at - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                due = heapq.heappop(self._heap)
            # Stopping can take a while (it retries until the engine gives up the query): not under the lock.
            threading.Thread(target=due.action, name="engine-stop", daemon=True).start()


_DEADLINES = _DeadlineWatcher()


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
        check_stopped(run)


def check_stopped(run: RunningQuery) -> None:
    """Raise for a stop that landed while the engine was idle (between batches), where no interrupt reaches it."""
    if run.timed_out:
        raise QueryTimeout(run.timeout_s or 0)
    if run.cancelled:
        raise QueryCancelled("Query was cancelled")


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
