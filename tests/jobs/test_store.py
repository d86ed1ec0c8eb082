"""The job store: what the fast write path stores, the ORM reads back; history filters and restart bookkeeping."""

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from bqlite_app.db import open_database
from bqlite_app.errors import DatabaseBusy
from bqlite_app.jobs.models import Job, JobPublic, JobStatus
from bqlite_app.jobs.store import JobStore


def test_written_jobs_read_back_exactly(tmp_path):
    store = JobStore(open_database(tmp_path / "jobs.sqlite"))
    job = store.add(Job(max_execution_time=300, sql="SELECT 1", engine="duckdb", priority=3, labels={"team": "growth"}))
    started = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert store.update(job.job_id, status=JobStatus.COMPLETED, started_at=started, rows_returned=7,
                        error_position=None)
    again = store.get(job.job_id)
    assert again.status == JobStatus.COMPLETED and again.priority == 3 and again.labels == {"team": "growth"}
    assert again.rows_returned == 7
    assert JobPublic.of(again).started_at == "2026-01-02T03:04:05.678901+00:00"
    assert not store.update("job_missing", status=JobStatus.FAILED)


def test_history_survives_reopening_and_filters(tmp_path):
    store = JobStore(open_database(tmp_path / "jobs.sqlite"))
    old = store.add(Job(sql="SELECT 'old'",
                        max_execution_time=300, engine="duckdb", created_at=datetime.now(UTC) - timedelta(days=2)))
    new = store.add(Job(max_execution_time=300, sql="SELECT 'new'", engine="clickhouse"))
    store.update(old.job_id, status=JobStatus.FAILED)
    store.close()

    reopened = JobStore(open_database(tmp_path / "jobs.sqlite"))
    jobs, total = reopened.list()
    assert [j.job_id for j in jobs] == [new.job_id, old.job_id] and total == 2
    assert [j.job_id for j in reopened.list(status="failed")[0]] == [old.job_id]
    assert [j.job_id for j in reopened.list(engine="clickhouse")[0]] == [new.job_id]
    assert [j.job_id for j in reopened.list(search="'NEW'")[0]] == [new.job_id]
    assert reopened.list(limit=1, offset=1)[0][0].job_id == old.job_id
    assert reopened.count_by_status() == {"failed": 1, "queued": 1}


def test_restart_bookkeeping(tmp_path):
    store = JobStore(open_database(tmp_path / "jobs.sqlite"))
    running = store.add(Job(max_execution_time=300, sql="SELECT 1", engine="duckdb", status=JobStatus.RUNNING))
    queued = store.add(Job(max_execution_time=300, sql="SELECT 2", engine="duckdb"))
    assert store.fail_interrupted("interrupted by restart") == 1
    failed = store.get(running.job_id)
    assert failed.status == JobStatus.FAILED and failed.error == "interrupted by restart" and failed.completed_at
    assert [j.job_id for j in store.queued()] == [queued.job_id]


def test_a_locked_database_is_a_quick_503_not_a_30_s_stall(tmp_path):
    path = tmp_path / "jobs.sqlite"
    store = JobStore(open_database(path, busy_timeout_s=0.2))
    job = store.add(Job(max_execution_time=300, sql="SELECT 1", engine="duckdb"))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")   # another process holding the write lock
    try:
        with pytest.raises(DatabaseBusy) as refused:
            store.add(Job(max_execution_time=300, sql="SELECT 2", engine="duckdb"))
        assert refused.value.status == 503 and refused.value.retry_after
        assert "locked" in refused.value.detail
        with pytest.raises(DatabaseBusy):
            store.update(job.job_id, status=JobStatus.RUNNING)
        assert store.get(job.job_id).status == JobStatus.QUEUED   # reads still work (WAL)
    finally:
        holder.rollback()
        holder.close()
    assert store.update(job.job_id, status=JobStatus.RUNNING)
    assert store.add(Job(max_execution_time=300, sql="SELECT 2", engine="duckdb"))
    assert store.list()[1] == 2
