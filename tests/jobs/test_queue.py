"""Dispatch order: priority, aging, slots and per-engine capacity."""

from bqlite_app.jobs.queue import JobQueue, PendingJob


def make_queue(**overrides) -> JobQueue:
    options = dict(total_slots=10, engine_capacity={"duckdb": 4, "clickhouse": 1}, max_concurrent=4,
                   aging_interval_s=30.0)
    options.update(overrides)
    return JobQueue(**options)


def test_most_urgent_priority_runs_first_then_fifo():
    queue = make_queue()
    queue.push(PendingJob("batch", "duckdb", 5, 1, enqueued_at=0))
    queue.push(PendingJob("first", "duckdb", 1, 1, enqueued_at=0))
    queue.push(PendingJob("second", "duckdb", 1, 1, enqueued_at=0))
    order = [queue.pop_runnable(now=0).job_id for _ in range(3)]
    assert order == ["first", "second", "batch"]


def test_waiting_batch_job_ages_past_new_interactive_jobs():
    queue = make_queue(aging_interval_s=10)
    queue.push(PendingJob("old-batch", "duckdb", 5, 1, enqueued_at=0))
    queue.push(PendingJob("new-interactive", "duckdb", 1, 1, enqueued_at=45))
    # At t=50 the batch job has waited 50 s = 5 levels: effective 0 < 1 - 0.5.
    assert queue.pop_runnable(now=50).job_id == "old-batch"


def test_slots_are_held_until_finish_and_big_job_is_not_starved_by_backfill():
    queue = make_queue(total_slots=4)
    queue.push(PendingJob("a", "duckdb", 1, 3, enqueued_at=0))
    assert queue.pop_runnable(now=0).job_id == "a"
    queue.push(PendingJob("big", "duckdb", 1, 2, enqueued_at=1))
    queue.push(PendingJob("small", "duckdb", 2, 1, enqueued_at=2))
    # "big" needs 2 slots and only 1 is free; "small" must not jump ahead of it.
    assert queue.pop_runnable(now=3) is None
    queue.finish("a")
    assert queue.pop_runnable(now=4).job_id == "big"
    assert queue.pop_runnable(now=4).job_id == "small"
    assert queue.slots_in_use == 3


def test_engine_at_capacity_lets_other_engines_run():
    queue = make_queue()
    queue.push(PendingJob("ch1", "clickhouse", 1, 1, enqueued_at=0))
    queue.push(PendingJob("ch2", "clickhouse", 1, 1, enqueued_at=1))
    queue.push(PendingJob("duck", "duckdb", 3, 1, enqueued_at=2))
    assert queue.pop_runnable(now=3).job_id == "ch1"
    assert queue.pop_runnable(now=3).job_id == "duck"
    assert queue.pop_runnable(now=3) is None
    queue.finish("ch1")
    assert queue.pop_runnable(now=4).job_id == "ch2"


def test_max_concurrent_jobs_caps_running():
    queue = make_queue(max_concurrent=2)
    for name in "abc":
        queue.push(PendingJob(name, "duckdb", 1, 1, enqueued_at=0))
    assert queue.pop_runnable(now=0) and queue.pop_runnable(now=0)
    assert queue.pop_runnable(now=0) is None
    assert queue.position("c", now=0) == 1


def test_oversized_slot_request_is_clamped_to_pool():
    queue = make_queue(total_slots=4)
    queue.push(PendingJob("huge", "duckdb", 1, 10, enqueued_at=0))
    assert queue.pop_runnable(now=0).slots == 4


def test_queue_position_and_removal():
    queue = make_queue(max_concurrent=1)
    queue.push(PendingJob("running", "duckdb", 1, 1, enqueued_at=0))
    queue.pop_runnable(now=0)
    queue.push(PendingJob("low", "duckdb", 4, 1, enqueued_at=0))
    queue.push(PendingJob("high", "duckdb", 1, 1, enqueued_at=1))
    assert queue.position("high", now=1) == 1
    assert queue.position("low", now=1) == 2
    assert queue.remove("high") and not queue.remove("high")
    assert queue.position("low", now=1) == 1
    assert queue.position("running", now=1) is None
