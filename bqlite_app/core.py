"""The composition root: builds engines, the job store, the scheduler and the services once per process.

Construction does no I/O. ``start()`` opens everything and runs in the app's lifespan (Reflex imports the app in a
supervisor process before forking the worker, so nothing may open a database at import time).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from bqlite_app import __version__
from bqlite_app.access.sql_policy import SqlPolicy, sandbox_limits
from bqlite_app.jobs.models import Job
from bqlite_app.jobs.results import ResultStore
from bqlite_app.jobs.scheduler import Scheduler
from bqlite_app.jobs.store import JobStore
from bqlite_app.metrics import Metrics
from bqlite_app.queries import QueryService
from bqlite_app.sample_data import ensure_sample_loaded
from bqlite_app.schemas.registry import SchemaRegistry
from bqlite_app.settings import Settings
from engines.base import Engine

log = logging.getLogger(__name__)


def build_engines(settings: Settings) -> dict[str, Engine]:
    from engines.clickhouse_engine import ClickHouseEngine
    from engines.duckdb_engine import DuckDBEngine

    duckdb = DuckDBEngine(settings.duckdb_path, capacity=settings.duckdb_capacity,
                          memory_limit=settings.query_memory_limit, allowed_directories=settings.allowed_directories)
    if settings.clickhouse_host:
        clickhouse = ClickHouseEngine.server(
            settings.clickhouse_host, port=settings.clickhouse_port, user=settings.clickhouse_user,
            password=settings.clickhouse_password, secure=settings.clickhouse_secure,
            cluster=settings.clickhouse_cluster, capacity=settings.clickhouse_capacity,
            memory_limit=settings.query_memory_limit,
        )
    else:
        clickhouse = ClickHouseEngine.embedded(settings.chdb_path, capacity=settings.clickhouse_capacity,
                                               memory_limit=settings.query_memory_limit)
    return {"duckdb": duckdb, "clickhouse": clickhouse}


class Core:
    def __init__(self, settings: Settings, *, engines: dict[str, Engine] | None = None) -> None:
        """``engines`` lets tests share already-started engines (chdb allows one data path per process)."""
        self.settings = settings
        self._owns_engines = engines is None
        self.engines = engines if engines is not None else build_engines(settings)
        self.metrics = Metrics()
        self.started_at: float | None = None
        self.store: JobStore | None = None
        self.results: ResultStore | None = None
        self.scheduler: Scheduler | None = None
        self._schemas: SchemaRegistry | None = None
        self._queries: QueryService | None = None
        self._stop = threading.Event()
        self._janitor: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self._owns_engines:
            for engine in self.engines.values():
                engine.start()
        self.store = JobStore(settings.db_path)
        self.results = ResultStore(settings.results_dir, cache_ttl_s=settings.result_cache_ttl_s,
                                   cache_max_bytes=settings.result_cache_max_bytes)
        self.scheduler = Scheduler(
            store=self.store, results=self.results, engines=self.engines, total_slots=settings.total_slots,
            max_concurrent_jobs=settings.max_concurrent_jobs, aging_interval_s=settings.aging_interval_s,
            memory_limit=settings.query_memory_limit, on_finished=self._job_finished,
        )
        self._schemas = SchemaRegistry(settings.db_path, self.engines, max_depth=settings.proto_max_depth,
                                       work_dir=settings.data_dir / "proto-schemas")
        self._queries = QueryService(engines=self.engines, store=self.store, results=self.results,
                                     scheduler=self.scheduler, max_sql_bytes=settings.max_sql_bytes,
                                     policy=SqlPolicy(sandbox_limits(settings)))
        self._load_sample_data()
        self.scheduler.start()
        self._janitor = threading.Thread(target=self._expire_results_loop, name="bqlite-janitor", daemon=True)
        self._janitor.start()
        self.started_at = time.monotonic()
        log.info("BigQuery-Lite core started", extra={"data_dir": str(settings.data_dir)})

    def stop(self) -> None:
        self._stop.set()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.store is not None:
            self.store.close()
        if self._schemas is not None:
            self._schemas.close()
        if self._owns_engines:
            for engine in self.engines.values():
                engine.close()

    @property
    def queries(self) -> QueryService:
        if self._queries is None:
            raise RuntimeError("the core has not been started")
        return self._queries

    @property
    def schemas(self) -> SchemaRegistry:
        if self._schemas is None:
            raise RuntimeError("the core has not been started")
        return self._schemas

    # -- system --------------------------------------------------------------------------------------------------

    def engine_health(self) -> dict[str, bool]:
        return {name: _safe_health(engine) for name, engine in self.engines.items()}

    def status(self) -> dict[str, Any]:
        assert self.scheduler is not None and self.store is not None
        counts = self.store.count_by_status()
        engines = {}
        for name, engine in self.engines.items():
            info = engine.info()
            engines[name] = {"available": _safe_health(engine), "mode": info.mode, "version": info.version}
        return {
            **self.scheduler.snapshot(),
            "completed_jobs": counts.get("completed", 0),
            "failed_jobs": counts.get("failed", 0),
            "cancelled_jobs": counts.get("cancelled", 0),
            "engines": engines,
            "uptime_s": round(time.monotonic() - (self.started_at or time.monotonic()), 3),
            "version": __version__,
        }

    def render_metrics(self) -> bytes:
        def refresh() -> None:
            assert self.scheduler is not None
            snapshot = self.scheduler.snapshot()
            self.metrics.queue_depth.set(snapshot["queued_jobs"])
            self.metrics.running_jobs.set(snapshot["running_jobs"])
            self.metrics.slots_in_use.set(snapshot["total_slots"] - snapshot["available_slots"])

        return self.metrics.render(refresh)

    # -- internals -----------------------------------------------------------------------------------------------

    def _job_finished(self, job: Job) -> None:
        self.metrics.job_finished(job.engine, str(job.status), job.execution_time_ms)
        if self._queries is not None:
            self._queries.record_finished(job)

    def _load_sample_data(self) -> None:
        rows, seed = self.settings.sample_rows, self.settings.sample_seed
        if rows <= 0:
            return
        for engine in self.engines.values():
            started = time.monotonic()
            if ensure_sample_loaded(engine, rows, seed):
                log.info("loaded %d sample rows into %s in %.1f s", rows, engine.name, time.monotonic() - started)

    def _expire_results_loop(self) -> None:
        interval = self.settings.result_cleanup_interval_s
        while not self._stop.wait(interval):
            try:
                self.expire_results()
            except Exception:
                log.exception("result cleanup failed")

    def expire_results(self) -> int:
        """Drop stored results older than the TTL. Job history stays; their result answers RESULT_EXPIRED."""
        assert self.results is not None
        removed = self.results.cleanup(self.settings.result_ttl_s)
        if removed:
            log.info("expired %d stored result(s)", removed)
        return removed


def _safe_health(engine: Engine) -> bool:
    try:
        return engine.health()
    except Exception:
        return False

