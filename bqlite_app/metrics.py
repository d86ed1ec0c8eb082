"""Prometheus metrics. One registry per core, so tests can build several cores in one process."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Process memory (process_resident_memory_bytes) and CPU (process_cpu_seconds_total).
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.jobs = Counter(
            "bqlite_jobs_total", "Jobs that finished, by engine and final status.",
            ["engine", "status"], registry=self.registry,
        )
        self.query_duration = Histogram(
            "bqlite_query_duration_seconds", "Execution time of finished jobs.", ["engine"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
            registry=self.registry,
        )
        self.queue_depth = Gauge("bqlite_queue_depth", "Jobs waiting for a slot.", registry=self.registry)
        self.running_jobs = Gauge("bqlite_running_jobs", "Jobs running now.", registry=self.registry)
        self.slots_in_use = Gauge("bqlite_slots_in_use", "Slots held by running jobs.", registry=self.registry)
        self.http_requests = Counter(
            "bqlite_http_requests_total", "HTTP requests by method, route template and status.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.http_duration = Histogram(
            "bqlite_http_request_duration_seconds", "HTTP request latency by route template.", ["route"],
            registry=self.registry,
        )

    def job_finished(self, engine: str, status: str, execution_time_ms: int | None) -> None:
        self.jobs.labels(engine=engine, status=status).inc()
        if execution_time_ms is not None:
            self.query_duration.labels(engine=engine).observe(execution_time_ms / 1000)

    def render(self, refresh: Callable[[], None] | None = None) -> bytes:
        """The text exposition; ``refresh`` updates the gauges first so they are exact at scrape time."""
        if refresh is not None:
            refresh()
        return generate_latest(self.registry)
