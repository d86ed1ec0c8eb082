"""The scheduler when things go wrong: status writes that fail, a cancel that lands before the engine has the query,
and a server that stops with a job running. Real engines and a real SQLite store; faults are injected by wrapping
the real store (its writes raise as a locked database would) or the real result store (it pauses at a chosen point).
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from bqlite_app.db import open_database
from bqlite_app.jobs.models import Job, JobStatus
from bqlite_app.jobs.results import ResultStore
from bqlite_app.jobs.scheduler import STOPPED_BY_SHUTDOWN, Scheduler
from bqlite_app.jobs.store import JobStore

BLOCKER = "SELECT sum(hash(i)) FROM range(100000000000) t(i)"
# Generous guards for waits on events; no assertion is about how long anything took.
GUARD_S = 60


class FlakyStore(JobStore):
    """The real job store, except that its next ``failures`` status writes raise like a locked database."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._faults = threading.Lock()
        self.failures = 0
        self.failed = 0

    def fail_next(self, count: int) -> None:
        with self._faults:
            self.failures = count

    def update(self, job_id: str, **changes) -> bool:
        with self._faults:
            fail = self.failures > 0
            if fail:
                self.failures -= 1
                self.failed += 1
        if fail:
            raise sqlite3.OperationalError("database is locked")
        return super().update(job_id, **changes)


class PausingResults(ResultStore):
    """The real result store; ``write`` waits for ``go`` before it starts pulling batches from the engine."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.entered = threading.Event()
        self.go = threading.Event()
        self.go.set()

    def write(self, job_id, batches, **kwargs):
        self.entered.set()
        assert self.go.wait(GUARD_S)
        return super().write(job_id, batches, **kwargs)


def make_scheduler(tmp_path, engines, *, store: JobStore | None = None, results: ResultStore | None = None,
                   ) -> Scheduler:
    scheduler = Scheduler(
        store=store or JobStore(open_database(tmp_path / "jobs.sqlite")),
        results=results or ResultStore(tmp_path / "results"),
        engines=engines, total_slots=4, max_concurrent_jobs=1, aging_interval_s=30,
    )
    scheduler.start()
    return scheduler


@pytest.fixture
def engines(duckdb_engine, clickhouse_engine):
    return {"duckdb": duckdb_engine, "clickhouse": clickhouse_engine}


@pytest.fixture
def flaky(tmp_path):
    return FlakyStore(open_database(tmp_path / "jobs.sqlite"))


@pytest.fixture
def scheduler(tmp_path, engines, flaky):
    scheduler = make_scheduler(tmp_path, engines, store=flaky)
    yield scheduler
    flaky.fail_next(0)
    scheduler.stop()


def wait_running(scheduler: Scheduler, job_id: str) -> None:
    deadline = time.monotonic() + GUARD_S
    while scheduler.live_job(job_id).status != JobStatus.RUNNING:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.01)


def all_slots_free(scheduler: Scheduler) -> bool:
    snapshot = scheduler.snapshot()
    return snapshot["running_jobs"] == 0 and snapshot["available_slots"] == snapshot["total_slots"]


# -- status writes ---------------------------------------------------------------------------------------------


def test_status_writes_that_fail_for_a_while_are_retried_and_the_job_completes(scheduler, flaky):
    flaky.fail_next(3)
    job = scheduler.submit(Job(max_execution_time=300, sql="SELECT 42 AS answer", engine="duckdb"))
    assert scheduler.wait(job.job_id, GUARD_S), "the job never finished"
    assert flaky.failed == 3
    assert scheduler.live_job(job.job_id).status == JobStatus.COMPLETED
    saved = flaky.get(job.job_id)
    assert saved.status == JobStatus.COMPLETED and saved.rows_returned == 1
    assert saved.started_at is not None and saved.completed_at is not None
    assert all_slots_free(scheduler)


def test_a_store_that_keeps_failing_still_ends_the_job_and_saves_it_once_it_recovers(scheduler, flaky):
    flaky.fail_next(1_000_000)
    job = scheduler.submit(Job(max_execution_time=300, sql="SELECT 1", engine="duckdb"))
    assert scheduler.wait(job.job_id, GUARD_S), "waiters were never woken"
    assert scheduler.live_job(job.job_id).status == JobStatus.COMPLETED
    assert all_slots_free(scheduler)
    assert flaky.get(job.job_id).status == JobStatus.QUEUED   # nothing could be written yet

    flaky.fail_next(0)
    assert scheduler.flush_unsaved() == 0
    saved = flaky.get(job.job_id)
    assert saved.status == JobStatus.COMPLETED and saved.started_at is not None and saved.rows_returned == 1


def test_cancel_ends_a_running_job_while_status_writes_fail(scheduler, flaky):
    job = scheduler.submit(Job(max_execution_time=300, sql=BLOCKER, engine="duckdb"))
    wait_running(scheduler, job.job_id)
    queued = scheduler.submit(Job(max_execution_time=300, sql="SELECT 1", engine="duckdb"))
    flaky.fail_next(1_000_000)
    assert scheduler.cancel(queued.job_id) == JobStatus.CANCELLED
    scheduler.cancel(job.job_id, wait_s=0)
    assert scheduler.wait(job.job_id, GUARD_S), "the cancelled job never ended"
    assert scheduler.live_job(job.job_id).status == JobStatus.CANCELLED
    assert all_slots_free(scheduler) and scheduler.snapshot()["queued_jobs"] == 0

    flaky.fail_next(0)
    assert scheduler.flush_unsaved() == 0
    assert flaky.get(job.job_id).status == JobStatus.CANCELLED
    assert flaky.get(queued.job_id).status == JobStatus.CANCELLED


# -- cancels and shutdown --------------------------------------------------------------------------------------


def test_a_cancel_that_lands_before_the_engine_has_the_query_still_stops_it(tmp_path, engines):
    results = PausingResults(tmp_path / "results")
    results.go.clear()
    scheduler = make_scheduler(tmp_path, engines, results=results)
    try:
        job = scheduler.submit(Job(max_execution_time=300, sql=BLOCKER, engine="duckdb"))
        assert results.entered.wait(GUARD_S)
        # The worker holds the engine's lazy query but has not started it: the engine has nothing to stop yet.
        assert scheduler.cancel(job.job_id, wait_s=0) == JobStatus.RUNNING
        results.go.set()
        assert scheduler.wait(job.job_id, GUARD_S), "the cancel was lost: the query kept running"
        assert scheduler.live_job(job.job_id).status == JobStatus.CANCELLED
    finally:
        results.go.set()
        scheduler.stop()


def test_stopping_says_running_jobs_were_stopped_by_shutdown_and_queued_jobs_resume(tmp_path, engines):
    store = JobStore(open_database(tmp_path / "jobs.sqlite"))
    scheduler = make_scheduler(tmp_path, engines, store=store)
    running = scheduler.submit(Job(max_execution_time=300, sql=BLOCKER, engine="duckdb"))
    wait_running(scheduler, running.job_id)
    queued = scheduler.submit(Job(max_execution_time=300, sql="SELECT 7 AS seven", engine="duckdb"))
    scheduler.stop()

    stopped = store.get(running.job_id)
    assert stopped.status == JobStatus.FAILED and stopped.error == STOPPED_BY_SHUTDOWN
    assert stopped.completed_at is not None
    assert store.get(queued.job_id).status == JobStatus.QUEUED

    restarted = make_scheduler(tmp_path, engines, store=store)
    try:
        assert restarted.wait(queued.job_id, GUARD_S)
        assert store.get(queued.job_id).status == JobStatus.COMPLETED
        assert store.get(running.job_id).error == STOPPED_BY_SHUTDOWN   # not rewritten as a restart casualty
    finally:
        restarted.stop()
