"""Jobs that are not one SQL statement: a load, or a query with a step after it (a destination table).

A job's usual work is its SQL, run by its engine. ``Scheduler.submit(job, hooks=JobHooks(...))`` lets a face give a
job other work while keeping everything else a job has: the queue and its slots, the time limit, cancel, progress,
history and the stored result. Hooks live in memory only, so a job that has them cannot be resumed after a restart
(``Job.resumable`` is False and the scheduler fails it if it was still queued).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa

from bqlite_app.jobs.models import Job


@dataclass(frozen=True)
class WorkContext:
    job: Job
    # True once the job should stop (cancel, time limit, shutdown). Work checks it between steps and then raises
    # ``engines.errors.QueryCancelled``.
    stopped: Callable[[], bool]
    set_progress: Callable[[float], None]


@dataclass(frozen=True)
class WorkOutcome:
    rows: int = 0                 # rows the work produced or wrote (a load's loaded rows)
    bytes_processed: int = 0
    # Stored as the job's result, as a query's would be (e.g. a one-row summary); None stores nothing.
    result: Iterable[pa.RecordBatch] | None = None


JobWork = Callable[[WorkContext], WorkOutcome]
# Runs in the worker after a query's result is stored and before the job is completed; raising fails the job.
AfterQuery = Callable[[Job], None]


@dataclass(frozen=True)
class JobHooks:
    work: JobWork | None = None
    after: AfterQuery | None = None
