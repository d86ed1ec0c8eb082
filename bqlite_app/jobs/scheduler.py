"""Runs queued jobs on their engines: dispatch, time limits, cancellation and progress.

Jobs are dispatched from the ``JobQueue`` into a thread pool whenever something changes: a submit, a finish or a
cancel (a dispatcher thread would add a thread hop to every small job). Each worker streams the engine's record
batches straight into the result store, so memory stays bounded whatever the result size. Cancels and
time limits stop the query *in the engine* (``Engine.cancel``); the worker then records the final status.

A status write that fails (a locked or sick database) is retried (``status_writer``), but never holds a job hostage:
the job still ends in memory, frees its slots and wakes its waiters, and the watchdog saves the change once the
store answers again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bqlite_app.db import utcnow
from bqlite_app.errors import BqliteError
from bqlite_app.jobs.graphs import stored as stored_graph
from bqlite_app.jobs.models import Job, JobStatus
from bqlite_app.jobs.param_sql import BoundSql, bind_sql
from bqlite_app.jobs.params import decode_parameters
from bqlite_app.jobs.queue import JobQueue, PendingJob
from bqlite_app.jobs.results import ResultStore
from bqlite_app.jobs.status_writer import UNSAVED_RETRY_S, StatusWriter
from bqlite_app.jobs.store import JobStore
from bqlite_app.jobs.work import JobHooks, WorkContext
from engines.base import Engine, QueryLimits, QueryStats
from engines.errors import EngineQueryError, EngineUnavailable, QueryCancelled, QueryTimeout

log = logging.getLogger(__name__)

INTERRUPTED_BY_RESTART = "interrupted by restart"
STOPPED_BY_SHUTDOWN = "stopped by server shutdown"
# How long past its deadline a query may run before the watchdog cancels it itself; engines enforce the limit
# natively, this is the backstop for an engine that missed it.
WATCHDOG_GRACE_S = 1.0
# Finished jobs kept in memory, so the poll that follows a job's end does not need the database.
RECENT_JOBS = 1024
# How long stop() waits for stopped queries to end before it gives up on them.
STOP_WAIT_S = 10.0


NO_HOOKS = JobHooks()
INTERRUPTED_BEFORE_START = "interrupted by a restart before it started; its input was in memory, submit it again"


@dataclass
class RunningJob:
    job: Job
    started: float
    deadline: float
    cancel_requested: bool = False
    timed_out: bool = False
    shutdown: bool = False          # stopped because the server is stopping
    # False while a stop was asked for but the engine had not registered the query yet (the worker is between
    # dispatch and the engine's first step); the watchdog sends it again.
    stop_delivered: bool = True
    done: threading.Event = field(default_factory=threading.Event)
    hooks: JobHooks = NO_HOOKS
    progress: float | None = None   # reported by hooked work; engines report their own

    @property
    def stop_wanted(self) -> bool:
        return self.cancel_requested or self.shutdown or self.timed_out


JobListener = Callable[[Job], None]


class Scheduler:
    def __init__(
        self, *, store: JobStore, results: ResultStore, engines: dict[str, Engine], total_slots: int,
        max_concurrent_jobs: int, aging_interval_s: float, memory_limit: str | None = None,
        on_finished: JobListener | None = None, user_max_running: int | None = None,
    ) -> None:
        """``user_max_running``: jobs of one user beyond it wait in the queue (None: no per-user limit)."""
        self._store = store
        self._results = results
        self._engines = engines
        self._memory_limit = memory_limit
        self._on_finished = on_finished
        self._queue = JobQueue(
            total_slots=total_slots, engine_capacity={name: e.capacity for name, e in engines.items()},
            max_concurrent=max_concurrent_jobs, aging_interval_s=aging_interval_s, user_max_running=user_max_running,
        )
        self._jobs: dict[str, Job] = {}            # queued jobs, by id
        self._hooks: dict[str, JobHooks] = {}      # queued jobs' in-memory work (jobs.work)
        self._running: dict[str, RunningJob] = {}
        self._watchers: dict[str, list[Callable[[], None]]] = {}   # called once when the job finishes
        self._recent: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._status = StatusWriter(store)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent_jobs, thread_name_prefix="bqlite-job")
        self._stopping = False
        self._watchdog: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Fail what a previous process left running, then resume what it left queued."""
        interrupted = self._store.fail_interrupted(INTERRUPTED_BY_RESTART)
        if interrupted:
            log.warning("marked %d job(s) failed: %s", interrupted, INTERRUPTED_BY_RESTART)
        resumed = []
        for job in self._store.queued():
            if job.resumable:
                resumed.append(job)
            else:
                self._store.update(job.job_id, status=JobStatus.FAILED, error=INTERRUPTED_BEFORE_START,
                                   completed_at=utcnow())
        with self._lock:
            for job in resumed:
                self._enqueue_locked(job)
            self._dispatch_locked()
        if resumed:
            log.info("resumed %d queued job(s)", len(resumed))
        self._watchdog = threading.Thread(target=self._watchdog_loop, name="bqlite-watchdog", daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        """Stop running queries in their engines and record them as stopped by shutdown; queued jobs stay queued
        in the store and run again at the next start."""
        with self._lock:
            self._stopping = True
            running = list(self._running.values())
            for run in running:
                run.shutdown = True
        for run in running:
            run.stop_delivered = self._engines[run.job.engine].cancel(run.job.job_id)
        deadline = time.monotonic() + STOP_WAIT_S
        for run in running:
            # The watchdog has quit, so a stop the engine could not take yet (not registered) is re-sent here.
            while not run.done.is_set() and (left := deadline - time.monotonic()) > 0:
                if not run.stop_delivered:
                    run.stop_delivered = self._engines[run.job.engine].cancel(run.job.job_id)
                run.done.wait(left if run.stop_delivered else min(left, 0.05))
            if not run.done.is_set():
                # An engine that ignores its stop must not hang the shutdown; its worker records the same later.
                log.warning("job %s did not stop within %.0f s; recording it as stopped", run.job.job_id, STOP_WAIT_S)
                self._status.record(run.job, {"status": JobStatus.FAILED, "error": STOPPED_BY_SHUTDOWN,
                                       "completed_at": utcnow()}, retries=())
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)
        if unsaved := self._status.flush():
            log.error("%d job status change(s) could not be saved before shutdown", unsaved)

    # -- commands ------------------------------------------------------------------------------------------------

    def submit(self, job: Job, hooks: JobHooks = NO_HOOKS) -> Job:
        """Queue ``job``; ``hooks`` replace or extend its SQL with in-memory work (``jobs.work``)."""
        if hooks is not NO_HOOKS:
            job.resumable = False
        self._store.add(job)
        with self._lock:
            if hooks is not NO_HOOKS:
                self._hooks[job.job_id] = hooks
            self._enqueue_locked(job)
            self._dispatch_locked()
        return job

    def cancel(self, job_id: str, *, wait_s: float = 2.0) -> JobStatus | None:
        """Cancel a queued or running job. Returns the status afterwards, or None when the job is not active.

        A running query is interrupted in its engine; we wait up to ``wait_s`` for the worker to record it.
        """
        with self._lock:
            if self._queue.remove(job_id):
                # Still in _jobs while the status is written (outside the lock: a write may be retried), so it
                # stays visible as queued and can never be dispatched.
                job = self._jobs[job_id]
                self._hooks.pop(job_id, None)
            else:
                job = None
                running = self._running.get(job_id)
                if running is None:
                    return None
                running.cancel_requested = True
                if running.hooks.work is not None:
                    # Hooked work watches the flag itself; there is no engine query to interrupt.
                    running.stop_delivered = True
        if job is not None:
            self._status.record(job, {"status": JobStatus.CANCELLED, "completed_at": utcnow(),
                               "error": "cancelled by user before it started"})
            with self._lock:
                self._jobs.pop(job_id, None)
                callbacks = self._finish_locked(job)
            self._notify_finished(job, callbacks)
            return JobStatus.CANCELLED
        if running.hooks.work is None:
            running.stop_delivered = self._engines[running.job.engine].cancel(job_id)
        running.done.wait(wait_s)
        return running.job.status

    def wait(self, job_id: str, timeout_s: float) -> bool:
        """Block until the job finishes (True) or the timeout passes (False). Unknown or finished: True."""
        event = threading.Event()
        if not self.on_finish(job_id, event.set):
            return True
        return event.wait(timeout_s)

    async def wait_async(self, job_id: str, timeout_s: float) -> bool:
        """``wait`` for the event loop: no thread is parked while a client long-polls."""
        loop = asyncio.get_running_loop()
        finished = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(True))

        if not self.on_finish(job_id, wake):
            return True
        try:
            return await asyncio.wait_for(finished, timeout_s)
        except TimeoutError:
            return False

    def on_finish(self, job_id: str, callback: Callable[[], None]) -> bool:
        """Call ``callback`` (from a worker thread) when the job finishes. False when it is not active now."""
        with self._lock:
            watchers = self._watchers.get(job_id)
            if watchers is None:
                return False
            watchers.append(callback)
            return True

    # -- queries -------------------------------------------------------------------------------------------------

    def live_job(self, job_id: str) -> Job | None:
        """The in-memory record of a queued, running or recently finished job; None means ask the store."""
        with self._lock:
            if job_id in self._jobs:
                return self._jobs[job_id]
            running = self._running.get(job_id)
            return running.job if running else self._recent.get(job_id)

    def progress(self, job_id: str) -> float | None:
        with self._lock:
            running = self._running.get(job_id)
        if running is None:
            return None
        if running.hooks.work is not None:
            return running.progress
        value = self._engines[running.job.engine].progress(job_id)
        return None if value is None else max(0.0, min(1.0, value))

    def queue_position(self, job_id: str) -> int | None:
        with self._lock:
            return self._queue.position(job_id)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "total_slots": self._queue.total_slots,
                "available_slots": self._queue.total_slots - self._queue.slots_in_use,
                "queued_jobs": self._queue.queued_count,
                "running_jobs": self._queue.running_count,
            }

    # -- internals -----------------------------------------------------------------------------------------------

    def _enqueue_locked(self, job: Job) -> None:
        self._jobs[job.job_id] = job
        self._watchers[job.job_id] = []
        self._queue.push(PendingJob(job.job_id, job.engine, job.priority, job.estimated_slots, user=job.user))

    def _dispatch_locked(self) -> None:
        """Start every job that may start now. Aging needs no timer: order is computed at each dispatch."""
        while not self._stopping and (pending := self._queue.pop_runnable()) is not None:
            job = self._jobs.pop(pending.job_id)
            now = time.monotonic()
            running = RunningJob(job=job, started=now, deadline=now + job.max_execution_time,
                                 hooks=self._hooks.pop(job.job_id, NO_HOOKS))
            self._running[job.job_id] = running
            self._pool.submit(self._run, running)

    def _watchdog_loop(self) -> None:
        next_flush = 0.0
        while True:
            with self._lock:
                if self._stopping:
                    return
                now = time.monotonic()
                overdue = [r for r in self._running.values()
                           if not r.timed_out and now > r.deadline + WATCHDOG_GRACE_S]
                for running in overdue:
                    log.warning("job %s passed its time limit; cancelling in engine", running.job.job_id)
                    running.timed_out = True
                    running.stop_delivered = False
                undelivered = [r for r in self._running.values() if r.stop_wanted and not r.stop_delivered]
            for running in undelivered:
                if running.hooks.work is not None:
                    running.stop_delivered = True   # the work sees stop_wanted at its next step
                    continue
                running.stop_delivered = self._engines[running.job.engine].cancel(running.job.job_id)
            if now >= next_flush and self._status.pending:
                self._status.flush()
                next_flush = now + UNSAVED_RETRY_S
            time.sleep(0.25)

    def _run(self, running: RunningJob) -> None:
        job = running.job
        changes: dict[str, object] = {"status": JobStatus.FAILED, "error": "internal error: the job ended abruptly"}
        try:
            # No retries here: the query need not wait for the database. An unsaved start is saved with the
            # next write of this job, or by the watchdog, whichever comes first.
            self._status.record(job, {"status": JobStatus.RUNNING, "started_at": utcnow()}, retries=())
            changes = self._execute(running)
        finally:
            # Whatever happened above, the job ends: a job left running holds its slots and its waiters forever.
            changes["completed_at"] = utcnow()
            changes["execution_time_ms"] = int((time.monotonic() - running.started) * 1000)
            try:
                self._status.record(job, changes)
            finally:
                with self._lock:
                    self._queue.finish(job.job_id)
                    self._running.pop(job.job_id, None)
                    callbacks = self._finish_locked(job)
                    self._dispatch_locked()
                running.done.set()
                self._notify_finished(job, callbacks)

    def _execute(self, running: RunningJob) -> dict[str, object]:
        job = running.job
        if running.stop_wanted:  # stopped before the engine ever saw it
            return self._stopped_changes(running, QueryCancelled("stopped before it started"))
        bound = BoundSql(job.sql)
        try:
            if running.hooks.work is not None:
                return self._run_work(running)
            stats = QueryStats()
            # ``@name`` parameters become the engine's placeholders; the job keeps the SQL as the user wrote it.
            bound = bind_sql(job.sql, job.engine, job.parameters)
            batches = self._engines[job.engine].execute(
                bound.text, query_tag=job.job_id, stats=stats, parameters=decode_parameters(job.parameters),
                limits=QueryLimits(timeout_s=job.max_execution_time, memory_limit=self._memory_limit),
            )
            info = self._results.write(job.job_id, batches)
            if running.hooks.after is not None:
                running.hooks.after(job)
            changes: dict[str, object] = {"status": JobStatus.COMPLETED, "rows_returned": info.rows,
                                          "result_bytes": info.bytes, "bytes_processed": stats.bytes_processed}
            if (graph := stored_graph(stats)) is not None:   # none for queries that read no table
                changes["execution_graph"] = graph
            return changes
        except (QueryCancelled, QueryTimeout) as exc:
            return self._stopped_changes(running, exc)
        except EngineQueryError as exc:
            if running.shutdown:  # an engine may report its interrupt as a plain error
                return self._stopped_changes(running, exc)
            return {"status": JobStatus.FAILED, "error": exc.message,
                    "error_position": bound.user_position(exc.position)}
        except BqliteError as exc:  # a user's mistake found by hooked work (a bad record, a missing table)
            return {"status": JobStatus.FAILED, "error": exc.detail}
        except EngineUnavailable as exc:  # a ClickHouse server went away: say so, it is not a bug of ours
            return {"status": JobStatus.FAILED, "error": str(exc)}
        except Exception as exc:  # a bug or an engine crash must still end the job, never leave it running
            log.exception("job %s crashed", job.job_id)
            return {"status": JobStatus.FAILED, "error": f"internal error: {type(exc).__name__}: {exc}"}

    def _run_work(self, running: RunningJob) -> dict[str, object]:
        assert running.hooks.work is not None

        def set_progress(value: float) -> None:
            running.progress = max(0.0, min(1.0, value))

        outcome = running.hooks.work(WorkContext(job=running.job, stopped=lambda: running.stop_wanted,
                                                 set_progress=set_progress))
        changes: dict[str, object] = {"status": JobStatus.COMPLETED, "rows_returned": outcome.rows,
                                      "bytes_processed": outcome.bytes_processed}
        if outcome.result is not None:
            changes["result_bytes"] = self._results.write(running.job.job_id, outcome.result).bytes
        return changes

    def flush_unsaved(self) -> int:
        """Try once more to save every status change a failed write left behind; returns how many jobs remain."""
        return self._status.flush()

    def _stopped_changes(self, running: RunningJob, exc: Exception) -> dict[str, object]:
        if running.cancel_requested and not isinstance(exc, QueryTimeout):
            return {"status": JobStatus.CANCELLED, "error": "cancelled by user"}
        if running.shutdown:
            return {"status": JobStatus.FAILED, "error": STOPPED_BY_SHUTDOWN}
        limit = running.job.max_execution_time
        return {"status": JobStatus.FAILED,
                "error": f"Query exceeded the maximum execution time of {limit} s and was stopped"}

    def _finish_locked(self, job: Job) -> list[Callable[[], None]]:
        """Move the job to the recent ones; its watchers, to call once the lock is released."""
        self._recent[job.job_id] = job
        if len(self._recent) > RECENT_JOBS:
            self._recent.popitem(last=False)
        return self._watchers.pop(job.job_id, [])

    def _notify_finished(self, job: Job, callbacks: list[Callable[[], None]]) -> None:
        # Outside the lock: every request that looks a job up takes it, and a listener (metrics) or a waiter's wake
        # held it for each finished job.
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a waiter whose event loop has closed: nobody is left to wake
                log.exception("job watcher failed")
        if self._on_finished is not None:
            try:
                self._on_finished(job)
            except Exception:
                log.exception("job listener failed")

