"""The composition root: builds engines, the job store, the scheduler and the services once per process.

Construction does no I/O. ``start()`` opens everything and runs in the app's lifespan (Reflex imports the app in a
supervisor process before forking the worker, so nothing may open a database at import time).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine as SqlEngine

from bqlite_app import __version__
from bqlite_app.access.audit import AuditLog
from bqlite_app.access.grants import Grants
from bqlite_app.access.identity import Identity
from bqlite_app.access.limits import Limiter
from bqlite_app.access.quotas import Quotas, user_max_running
from bqlite_app.access.sql_policy import SqlPolicy, sandbox_limits
from bqlite_app.datasets import Datasets
from bqlite_app.db import Database, open_database
from bqlite_app.health import HealthProbe
from bqlite_app.jobs.models import Job
from bqlite_app.jobs.results import ResultStore
from bqlite_app.jobs.scheduler import Scheduler
from bqlite_app.jobs.service import QueryService
from bqlite_app.jobs.small_results import SmallResults
from bqlite_app.jobs.store import JobStore
from bqlite_app.loads import LoadService
from bqlite_app.metrics import Metrics
from bqlite_app.sample_data import ensure_sample_loaded
from bqlite_app.saved import SavedQueries
from bqlite_app.schemas.registry import SchemaRegistry
from bqlite_app.settings import Settings, get_settings
from engines.base import Engine
from engines.errors import EngineUnavailable

if TYPE_CHECKING:
    from engines._ch_server import ServerAddress

log = logging.getLogger(__name__)


def build_engines(settings: Settings) -> dict[str, Engine]:
    from engines.clickhouse_engine import ClickHouseEngine
    from engines.duckdb_engine import DuckDBEngine

    duckdb = DuckDBEngine(settings.duckdb_path, capacity=settings.duckdb_capacity,
                          memory_limit=settings.query_memory_limit, allowed_directories=settings.allowed_directories)
    if settings.clickhouse_host:
        clickhouse = ClickHouseEngine.server(
            clickhouse_address(settings), cluster=settings.clickhouse_cluster,
            capacity=settings.clickhouse_capacity, memory_limit=settings.query_memory_limit,
            read_attempts=settings.clickhouse_read_attempts,
        )
    else:
        clickhouse = ClickHouseEngine.embedded(settings.chdb_path, capacity=settings.clickhouse_capacity,
                                               memory_limit=settings.query_memory_limit)
    return {"duckdb": duckdb, "clickhouse": clickhouse}


def clickhouse_address(settings: Settings) -> ServerAddress:
    from engines._ch_server import ServerAddress

    assert settings.clickhouse_host
    return ServerAddress(
        host=settings.clickhouse_host, port=settings.clickhouse_port, user=settings.clickhouse_user,
        password=settings.clickhouse_password.get_secret_value(), secure=settings.clickhouse_secure,
        ca_file=settings.clickhouse_ca_file, verify=settings.clickhouse_verify,
        connect_timeout_s=settings.clickhouse_connect_timeout_s,
        send_receive_timeout_s=settings.clickhouse_send_receive_timeout_s,
    )


@cache
def app_core() -> Core:
    """The process-wide core that the REST routes and the Reflex states share (the states call it in process).

    Built on first use, not at import: importing ``Core`` (tests, tools) must not read settings or build engines.
    """
    return Core(get_settings())


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
        self._loads: LoadService | None = None
        self._saved: SavedQueries | None = None
        self._datasets: Datasets | None = None
        self._health = HealthProbe(self.engines)
        self._stop = threading.Event()
        self._janitor: threading.Thread | None = None
        self._db: Database | None = None
        self._audit: AuditLog | None = None
        self._identity: Identity | None = None
        self._grants: Grants | None = None
        self._limiter: Limiter | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        settings = self.settings
        refuse_open_host_without_auth(settings)  # again here: `make run` checks first, but not every start is make
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self._owns_engines:
            for engine in self.engines.values():
                engine.start()
        self._health.start()
        self._db = open_database(settings.db_path)
        self.store = JobStore(self._db)
        self.results = ResultStore(settings.results_dir, cache_ttl_s=settings.result_cache_ttl_s,
                                   cache_max_bytes=settings.result_cache_max_bytes, small=SmallResults(self._db))
        self.scheduler = Scheduler(
            store=self.store, results=self.results, engines=self.engines, total_slots=settings.total_slots,
            max_concurrent_jobs=settings.max_concurrent_jobs, aging_interval_s=settings.aging_interval_s,
            memory_limit=settings.query_memory_limit, on_finished=self._job_finished,
            user_max_running=user_max_running(settings),
        )
        self._start_access()
        assert self._grants is not None and self._audit is not None
        self._datasets = Datasets(self.engines, self._grants, self._audit)
        self._schemas = SchemaRegistry(self._db, self.engines, max_depth=settings.proto_max_depth,
                                       work_dir=settings.data_dir / "proto-schemas", grants=self._grants,
                                       audit=self._audit)
        self._queries = QueryService(engines=self.engines, store=self.store, results=self.results,
                                     scheduler=self.scheduler, max_sql_bytes=settings.max_sql_bytes,
                                     policy=SqlPolicy(sandbox_limits(settings)), grants=self._grants,
                                     audit=self._audit, quotas=Quotas(settings, self.store.bytes_since),
                                     default_timeout_s=settings.default_timeout_s,
                                     result_memory_limit=settings.query_memory_limit)
        self._loads = LoadService(engines=self.engines, scheduler=self.scheduler, grants=self._grants,
                                  audit=self._audit)
        self._saved = SavedQueries(self._db.engine, self._audit, engines=self.engines,
                                   max_sql_bytes=settings.max_sql_bytes)
        self._load_sample_data()
        self.scheduler.start()
        self._janitor = threading.Thread(target=self._expire_results_loop, name="bqlite-janitor", daemon=True)
        self._janitor.start()
        self._health.current()  # the first round (long done by now): from here on no health answer waits
        self.started_at = time.monotonic()
        log.info("BigQuery-Lite core started", extra={"data_dir": str(settings.data_dir)})

    def stop(self) -> None:
        self._stop.set()
        self._health.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.store is not None:
            self.store.close()
        if self.results is not None:
            self.results.close()
        if self._audit is not None:
            self._audit.close()
        if self._db is not None:
            self._db.close()
        if self._owns_engines:
            for engine in self.engines.values():
                engine.close()

    @property
    def queries(self) -> QueryService:
        if self._queries is None:
            raise RuntimeError("the core has not been started")
        return self._queries

    @property
    def loads(self) -> LoadService:
        if self._loads is None:
            raise RuntimeError("the core has not been started")
        return self._loads

    @property
    def saved(self) -> SavedQueries:
        if self._saved is None:
            raise RuntimeError("the core has not been started")
        return self._saved

    @property
    def datasets(self) -> Datasets:
        if self._datasets is None:
            raise RuntimeError("the core has not been started")
        return self._datasets

    @property
    def schemas(self) -> SchemaRegistry:
        if self._schemas is None:
            raise RuntimeError("the core has not been started")
        return self._schemas

    @property
    def audit(self) -> AuditLog:
        if self._audit is None:
            raise RuntimeError("the core has not been started")
        return self._audit

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            raise RuntimeError("the core has not been started")
        return self._identity

    @property
    def grants(self) -> Grants:
        if self._grants is None:
            raise RuntimeError("the core has not been started")
        return self._grants

    @property
    def db(self) -> SqlEngine:
        """The SQLAlchemy engine over the jobs' SQLite file, for faces that keep records of their own."""
        if self._db is None:
            raise RuntimeError("the core has not been started")
        return self._db.engine

    @property
    def limiter(self) -> Limiter:
        if self._limiter is None:
            raise RuntimeError("the core has not been started")
        return self._limiter

    # -- system --------------------------------------------------------------------------------------------------

    def engine_health(self, *, fresh: bool = False) -> dict[str, bool]:
        """Each engine's health from the background probe (memory only, at most about a second old).

        ``fresh`` waits for probes that begin after the call, for a caller who has just changed something.
        """
        return self._health.refresh() if fresh else self._health.current()

    def status(self) -> dict[str, Any]:
        assert self.scheduler is not None and self.store is not None
        counts = self.store.count_by_status()
        engines = {}
        health = self.engine_health()
        for name, engine in self.engines.items():
            info = engine.info()
            engines[name] = {"available": health[name], "mode": info.mode, "version": info.version,
                             "address": info.address, "label": info.label}
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

    def _start_access(self) -> None:
        """Users, tokens, grants and the audit log share the jobs' SQLite file (the JobStore created the tables)."""
        assert self._db is not None
        self._audit = AuditLog(self._db)
        self._limiter = Limiter(self.settings)
        self._grants = Grants(self._db.engine, self.settings, self._audit)
        self._identity = Identity(self._db.engine, self.settings, self._audit, grants=self._grants,
                                  limiter=self._limiter)
        if self.settings.auth_on:
            self._identity.bootstrap()

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
            try:
                loaded = ensure_sample_loaded(engine, rows, seed)
            except EngineUnavailable as exc:
                # A ClickHouse server that is down must not keep the app (and DuckDB) from starting.
                log.warning("sample data not loaded into %s (%s); it loads on the next start", engine.name, exc)
                continue
            if loaded:
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


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def refuse_open_host_without_auth(settings: Settings) -> None:
    """Serving beyond this machine with auth off would give everyone on the network the admin role."""
    if not settings.auth_on and not is_loopback(settings.host):
        raise SystemExit(
            f"Refusing to start: BQLITE_HOST={settings.host} is reachable from other machines and BQLITE_AUTH is off, "
            "so anyone could act as the admin. Set BQLITE_AUTH=on (and BQLITE_ADMIN_PASSWORD, or read the generated "
            "one from the data dir), or serve on BQLITE_HOST=127.0.0.1."
        )
