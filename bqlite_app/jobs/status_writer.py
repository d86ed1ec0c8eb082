"""A job's status changes, into the store first and onto the job after: persist, then show.

A write that fails (a locked or sick database) is retried a few times, then kept: the job moves on in memory anyway,
since a job stuck in a state it has left is worse than a late write, and the scheduler's watchdog calls ``flush``
until the store answers again.
"""

from __future__ import annotations

import logging
import threading
import time

from bqlite_app.jobs.models import Job
from bqlite_app.jobs.store import JobStore

log = logging.getLogger(__name__)

# A status write that fails is tried again after these pauses. Past them the job still moves on in memory (slots
# freed, waiters woken) and the watchdog keeps retrying the write every UNSAVED_RETRY_S.
WRITE_RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.8)
# ...but no retry starts after this long: each attempt on a locked database already waits the store's busy timeout.
WRITE_RETRY_BUDGET_S = 5.0
UNSAVED_RETRY_S = 1.0


class StatusWriter:
    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        # Status changes not yet in the store, by job id (newest values win). Every write goes through here under
        # _persist_lock, so a retried old change can never land after a newer one.
        self._unsaved: dict[str, dict[str, object]] = {}
        self._persist_lock = threading.Lock()

    @property
    def pending(self) -> int:
        """How many jobs have changes not yet in the store."""
        with self._lock:
            return len(self._unsaved)

    def record(self, job: Job, changes: dict[str, object],
               retries: tuple[float, ...] = WRITE_RETRY_DELAYS_S) -> bool:
        """Persist ``changes``, then set them on ``job``. Never raises; False when the write is left to ``flush``."""
        with self._lock:
            self._unsaved[job.job_id] = {**self._unsaved.get(job.job_id, {}), **changes}
        started = time.monotonic()
        saved = self._persist(job.job_id)
        for delay in retries:
            if saved or time.monotonic() - started > WRITE_RETRY_BUDGET_S:
                break
            time.sleep(delay)
            saved = self._persist(job.job_id)
        if not saved:
            log.error("could not save the status of job %s; will retry in the background", job.job_id)
        for key, value in changes.items():
            setattr(job, key, value)
        return saved

    def flush(self) -> int:
        """Try once more to save every change a failed write left behind; returns how many jobs remain."""
        with self._lock:
            pending = list(self._unsaved)
        for job_id in pending:
            if not self._persist(job_id):
                break  # the store is still failing; the rest would only wait out the same busy timeout
        return self.pending

    def _persist(self, job_id: str) -> bool:
        """Write a job's unsaved changes in one UPDATE. False (and the changes kept) when the store fails."""
        with self._persist_lock:
            with self._lock:
                changes = self._unsaved.pop(job_id, None)
            if not changes:
                return True
            try:
                self._store.update(job_id, **changes)
                return True
            except Exception as exc:
                log.warning("saving the status of job %s failed: %s", job_id, exc)
                with self._lock:  # changes made meanwhile are newer and win
                    self._unsaved[job_id] = {**changes, **self._unsaved.get(job_id, {})}
                return False
