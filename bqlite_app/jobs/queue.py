"""The waiting room: priority with aging, slots and per-engine capacity.

Pure bookkeeping, no threads and no I/O, so the dispatch rules can be tested directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class PendingJob:
    job_id: str
    engine: str
    priority: int          # 1 (interactive) .. 5 (batch)
    slots: int
    enqueued_at: float = field(default_factory=time.monotonic)
    sequence: int = 0      # FIFO tie-break among equals
    user: str = ""         # who submitted it, for the per-user running limit

    def effective_priority(self, now: float, aging_interval_s: float) -> float:
        """Lower runs first. A waiting job gains one level per ``aging_interval_s``, so batch work never starves."""
        return self.priority - (now - self.enqueued_at) / aging_interval_s


class JobQueue:
    def __init__(self, *, total_slots: int, engine_capacity: dict[str, int], max_concurrent: int,
                 aging_interval_s: float, user_max_running: int | None = None) -> None:
        """``user_max_running``: how many jobs of one user may run at once (None: no such limit)."""
        self.total_slots = total_slots
        self.user_max_running = user_max_running
        self.engine_capacity = dict(engine_capacity)
        self.max_concurrent = max_concurrent
        self.aging_interval_s = aging_interval_s
        self._pending: dict[str, PendingJob] = {}
        self._running: dict[str, PendingJob] = {}
        self._sequence = 0

    # -- state ---------------------------------------------------------------------------------------------------

    @property
    def slots_in_use(self) -> int:
        return sum(job.slots for job in self._running.values())

    @property
    def queued_count(self) -> int:
        return len(self._pending)

    @property
    def running_count(self) -> int:
        return len(self._running)

    # -- transitions ---------------------------------------------------------------------------------------------

    def push(self, job: PendingJob) -> None:
        # A job can never need more slots than exist; clamping keeps an oversized request runnable.
        job.slots = max(1, min(job.slots, self.total_slots))
        self._sequence += 1
        job.sequence = self._sequence
        self._pending[job.job_id] = job

    def remove(self, job_id: str) -> bool:
        return self._pending.pop(job_id, None) is not None

    def finish(self, job_id: str) -> None:
        self._running.pop(job_id, None)

    def pop_runnable(self, now: float | None = None) -> PendingJob | None:
        """The next job to start, or None when nothing may start now.

        Candidates are taken in effective-priority order. A job whose engine is at capacity is skipped (others can
        use their engines), and so is a job whose user already runs ``user_max_running`` jobs (it waits, others
        go first), but the first job that only lacks slots blocks the rest: backfilling smaller jobs past it would
        starve large ones.
        """
        if len(self._running) >= self.max_concurrent:
            return None
        now = time.monotonic() if now is None else now
        engine_load: dict[str, int] = {}
        user_load: dict[str, int] = {}
        for job in self._running.values():
            engine_load[job.engine] = engine_load.get(job.engine, 0) + 1
            user_load[job.user] = user_load.get(job.user, 0) + 1
        free_slots = self.total_slots - self.slots_in_use
        for job in self._ordered(now):
            if engine_load.get(job.engine, 0) >= self.engine_capacity.get(job.engine, 1):
                continue
            if self.user_max_running is not None and user_load.get(job.user, 0) >= self.user_max_running:
                continue
            if job.slots > free_slots:
                return None
            del self._pending[job.job_id]
            self._running[job.job_id] = job
            return job
        return None

    def position(self, job_id: str, now: float | None = None) -> int | None:
        """1-based place in the current dispatch order, or None when not queued."""
        if job_id not in self._pending:
            return None
        now = time.monotonic() if now is None else now
        for index, job in enumerate(self._ordered(now), start=1):
            if job.job_id == job_id:
                return index
        return None

    def _ordered(self, now: float) -> list[PendingJob]:
        return sorted(
            self._pending.values(),
            key=lambda job: (job.effective_priority(now, self.aging_interval_s), job.sequence),
        )
