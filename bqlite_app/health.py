"""Engine health, probed in the background so that ``/health`` and ``/status`` answer from memory.

One daemon thread per engine, so a ClickHouse server that takes its full ping timeout to fail does not make
DuckDB's answer old. Each thread probes, records the answer, and waits ``interval_s`` or until someone asks for a
fresh answer (``refresh``), whichever comes first: a monitor polling ``/health`` costs no I/O, and the answer it gets
is at most about ``interval_s`` plus one probe old.

``refresh`` waits for a probe that *started after the call*: whoever has just changed something (a test that
stopped a server, an operator's check) waits on that event, never on the clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from engines.base import Engine

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.5
# An engine whose last finished probe is older than this reads as down: its probe is stuck past every engine's own
# timeout (the ClickHouse server ping gives up after 3 s), so "healthy" would no longer be the truth.
STALE_AFTER_S = 5.0


def probe_once(engine: Engine) -> bool:
    try:
        return bool(engine.health())
    except Exception:
        return False


class _EngineProbe:
    """One engine's probe loop: rounds started and finished are counted so a caller can wait for a new one."""

    def __init__(self, engine: Engine, interval_s: float, stop: threading.Event) -> None:
        self.engine = engine
        self._interval_s = interval_s
        self._stop = stop
        self._cond = threading.Condition()
        self._started = 0           # rounds begun
        self._finished = 0          # rounds whose answer is recorded
        self._wanted = 0            # the round a caller of ``refresh`` waits for
        self._answer: tuple[bool, float] | None = None   # (healthy, time.monotonic() of the last finished round)
        self._thread = threading.Thread(target=self._run, name=f"bqlite-health-{engine.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def join(self, timeout_s: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def current(self, timeout_s: float) -> bool:
        """The last answer; before the first round has finished, wait for it (up to ``timeout_s``)."""
        answer = self._answer  # one immutable tuple, replaced whole: read without the lock
        if answer is None:
            with self._cond:
                self._cond.wait_for(lambda: self._answer is not None or self._stop.is_set(), timeout_s)
            answer = self._answer
            if answer is None:
                return False
        healthy, checked_at = answer
        return healthy and time.monotonic() - checked_at <= STALE_AFTER_S

    def ask(self) -> int:
        """Ask for a round that begins after this call; returns its number, for ``wait``."""
        with self._cond:
            target = self._started + 1
            self._wanted = max(self._wanted, target)
            self._cond.notify_all()
            return target

    def wait(self, target: int, timeout_s: float) -> bool:
        """The answer of round ``target`` or a later one (False if none finishes within ``timeout_s``)."""
        with self._cond:
            self._cond.wait_for(lambda: self._finished >= target or self._stop.is_set(), timeout_s)
            return self._answer[0] if self._answer is not None and self._finished >= target else False

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                self._started += 1
                round_no = self._started
            healthy = probe_once(self.engine)
            with self._cond:
                if self._answer is not None and healthy != self._answer[0]:
                    log.warning("engine %s is %s", self.engine.name, "healthy again" if healthy else "unavailable")
                self._answer, self._finished = (healthy, time.monotonic()), round_no
                self._cond.notify_all()
                # Sleep until the next round is due, a caller wants a fresh answer, or the core stops.
                self._cond.wait_for(lambda: self._wanted > self._finished or self._stop.is_set(), self._interval_s)


class HealthProbe:
    """Every engine's health, kept fresh by background threads; reading it does no I/O."""

    def __init__(self, engines: Mapping[str, Engine], *, interval_s: float = PROBE_INTERVAL_S) -> None:
        self._stop = threading.Event()
        self._probes = {name: _EngineProbe(engine, interval_s, self._stop) for name, engine in engines.items()}
        self._running = False

    def start(self) -> None:
        for probe in self._probes.values():
            probe.start()
        self._running = True

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        for probe in self._probes.values():
            probe.wake()
        deadline = time.monotonic() + timeout_s
        for probe in self._probes.values():
            probe.join(max(0.0, deadline - time.monotonic()))
        self._running = False

    def current(self, timeout_s: float = STALE_AFTER_S) -> dict[str, bool]:
        """The latest answers. Only the very first call after start can wait, for the first round."""
        if not self._running:  # not started (or stopped): ask the engines directly, as before the probe existed
            return {name: probe_once(probe.engine) for name, probe in self._probes.items()}
        return {name: probe.current(timeout_s) for name, probe in self._probes.items()}

    def refresh(self, timeout_s: float = STALE_AFTER_S) -> dict[str, bool]:
        """Answers from probes that began after this call: for a caller who has just changed something."""
        if not self._running:
            return self.current()
        targets = {name: probe.ask() for name, probe in self._probes.items()}
        deadline = time.monotonic() + timeout_s
        return {name: probe.wait(targets[name], max(0.0, deadline - time.monotonic()))
                for name, probe in self._probes.items()}
