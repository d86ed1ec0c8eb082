"""The scheduler with real engines: dispatch order, slots, cancel of queued jobs, and waiting."""

import time

import pytest

from bqlite_app.db import open_database
from bqlite_app.jobs.models import Job, JobStatus
from bqlite_app.jobs.results import ResultStore
from bqlite_app.jobs.scheduler import Scheduler
from bqlite_app.jobs.store import JobStore

BLOCKER = "SELECT sum(hash(i)) FROM range(100000000000) t(i)"


@pytest.fixture
def scheduler(tmp_path, duckdb_engine, clickhouse_engine):
    scheduler = Scheduler(
        store=JobStore(open_database(tmp_path / "jobs.sqlite")), results=ResultStore(tmp_path / "results"),
        engines={"duckdb": duckdb_engine, "clickhouse": clickhouse_engine}, total_slots=4,
        max_concurrent_jobs=1, aging_interval_s=30,
    )
    scheduler.start()
    yield scheduler
    scheduler.stop()


def wait_running(scheduler, job_id: str) -> None:
    deadline = time.monotonic() + 60  # a guard against hanging, not a timing check
    while scheduler.live_job(job_id).status != JobStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_waiting_jobs_start_by_priority_then_submission(scheduler):
    blocker = scheduler.submit(Job(max_execution_time=300, sql=BLOCKER, engine="duckdb"))
    wait_running(scheduler, blocker.job_id)
    batch = scheduler.submit(Job(max_execution_time=300, sql="SELECT 'batch'", engine="duckdb", priority=5))
    first = scheduler.submit(Job(max_execution_time=300, sql="SELECT 'first'", engine="duckdb", priority=1))
    second = scheduler.submit(Job(max_execution_time=300, sql="SELECT 'second'", engine="duckdb", priority=1))
    assert [scheduler.queue_position(j.job_id) for j in (first, second, batch)] == [1, 2, 3]
    assert scheduler.cancel(blocker.job_id) == JobStatus.CANCELLED
    for job in (batch, first, second):
        assert scheduler.wait(job.job_id, 10)
    started = sorted((scheduler.live_job(j.job_id).started_at, j.job_id) for j in (batch, first, second))
    assert [job_id for _, job_id in started] == [first.job_id, second.job_id, batch.job_id]


def test_cancelling_a_queued_job_never_runs_it(scheduler):
    blocker = scheduler.submit(Job(max_execution_time=300, sql=BLOCKER, engine="duckdb"))
    wait_running(scheduler, blocker.job_id)
    queued = scheduler.submit(Job(max_execution_time=300, sql="SELECT 1", engine="duckdb"))
    assert scheduler.cancel(queued.job_id) == JobStatus.CANCELLED
    scheduler.cancel(blocker.job_id)
    job = scheduler.live_job(queued.job_id)
    assert job.status == JobStatus.CANCELLED and job.started_at is None and job.completed_at is not None
    assert scheduler.cancel(queued.job_id) is None  # finished: nothing to cancel


def test_slots_and_counts_in_the_snapshot(scheduler):
    blocker = scheduler.submit(Job(max_execution_time=300, sql=BLOCKER, engine="duckdb", estimated_slots=3))
    wait_running(scheduler, blocker.job_id)
    scheduler.submit(Job(max_execution_time=300, sql="SELECT 1", engine="duckdb"))
    assert scheduler.snapshot() == {"total_slots": 4, "available_slots": 1, "queued_jobs": 1, "running_jobs": 1}
    scheduler.cancel(blocker.job_id)
