"""The load service: a file already on disk becomes rows in a table, as a job of kind "load".

Both the BigQuery face (load jobs) and the UI ("Load data") call it. ``submit`` checks everything it can before a
job exists (the spec, the caller's grants, the dataset, the dispositions) and raises then; the job's work checks
again (the world may change while it waits in the queue) and streams the file through a ``Reader`` into an
all-or-nothing insert:
- appending to an existing table: ``engine.open_insert`` on the table itself (nothing is visible until commit);
- creating or replacing a table: a staging table, filled the same way, then swapped in (``_tables``), so a failed
  ``WRITE_TRUNCATE`` leaves the old rows exactly as they were.

Grants (docs/api.md "What each needs"): appending and creating a table need ``writer`` on the dataset; replacing an
existing table's contents (``WRITE_TRUNCATE``, a TRUNCATE) needs ``owner``. No load goes into a reserved dataset
(``bqlite_app.datasets``), the sample ``default`` included, whatever the caller's role.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from bqlite_app.access.audit import AuditLog
from bqlite_app.access.grants import Grants
from bqlite_app.access.principal import LOCAL, Principal
from bqlite_app.datasets import database_exists, engine_database, refuse_reserved
from bqlite_app.errors import BqliteError, EngineNotAvailable, ValidationFailed
from bqlite_app.jobs.labels import validate_labels
from bqlite_app.jobs.models import Job, JobKind
from bqlite_app.jobs.scheduler import Scheduler
from bqlite_app.jobs.work import JobHooks, WorkContext, WorkOutcome
from bqlite_app.loads import _tables
from bqlite_app.loads._arrow import arrow_schema, column_of
from bqlite_app.loads._write import WritePlan, write_batches
from bqlite_app.loads.bad_records import BadRecords, Problem
from bqlite_app.loads.errors import DatasetNotFound, DestinationNotFound, TableNotEmpty
from bqlite_app.loads.readers import BATCH_ROWS, BLOCK_BYTES, Reader, detect
from bqlite_app.loads.spec import LoadSpec, validate
from engines.base import Engine
from engines.types import Column

log = logging.getLogger(__name__)

# BigQuery's load jobs may run for six hours.
LOAD_MAX_EXECUTION_S = 6 * 3600
PREVIEW_ROWS = 20
REPORTS_KEPT = 1024
_SOURCE_NAME = re.compile(r"[^\w .@+-]")

SUMMARY_SCHEMA = pa.schema([
    ("destination", pa.string()), ("output_rows", pa.int64()), ("input_bytes", pa.int64()),
    ("bad_records", pa.int64()), ("errors", pa.list_(pa.struct([("location", pa.string()),
                                                               ("message", pa.string())]))),
])


@dataclass(frozen=True)
class InferredSchema:
    """What ``preview`` finds: the columns a load would use, and the first rows as they would be loaded."""

    columns: list[Column]
    sample: pa.Table
    skip_leading_rows: int                  # CSV rows before data (a detected header included)
    bad_records: list[Problem] = field(default_factory=list)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.sample.to_pylist()


@dataclass
class LoadReport:
    """How a load job went, for BigQuery's ``statistics.load`` and ``status.errors``; kept for recent jobs."""

    destination: str
    input_bytes: int
    output_rows: int = 0
    bad_records: int = 0
    problems: list[Problem] = field(default_factory=list)
    error: BqliteError | None = None        # why it failed (its class says notFound, duplicate, invalid...)


class LoadService:
    def __init__(self, *, engines: dict[str, Engine], scheduler: Scheduler, grants: Grants | None = None,
                 audit: AuditLog | None = None, batch_rows: int = BATCH_ROWS, block_bytes: int = BLOCK_BYTES,
                 max_execution_time: int = LOAD_MAX_EXECUTION_S) -> None:
        """``batch_rows``/``block_bytes`` bound each batch a reader holds (rows, and CSV/JSON text per block)."""
        self._engines = engines
        self._scheduler = scheduler
        self._grants = grants
        self._audit = audit
        self._batch_rows = batch_rows
        self._block_bytes = block_bytes
        self._max_execution_time = max_execution_time
        self._reports: OrderedDict[str, LoadReport] = OrderedDict()
        self._lock = threading.Lock()

    # -- preview ---------------------------------------------------------------------------------------------

    def preview(self, path: Path, spec: LoadSpec, *, rows: int = PREVIEW_ROWS) -> InferredSchema:
        """The declared schema, or the one detected from the file (whatever ``spec.autodetect`` says), and the
        first ``rows`` rows converted to it. Reads only the start of the file; touches no engine."""
        validate(spec)
        _check_source(path)
        if spec.schema is not None:
            columns, skip = list(spec.schema), spec.skip_leading_rows or 0
        else:
            detected = detect(path, spec)
            columns, skip = detected.columns, detected.skip_rows
        schema = arrow_schema(columns)
        bad = BadRecords(limit=1 << 30)
        reader = Reader(path, spec, schema, bad, skip_rows=skip, batch_rows=max(1, rows),
                        block_bytes=min(self._block_bytes, 1 << 20))
        batches: list[pa.RecordBatch] = []
        taken = 0
        for batch in reader:
            batches.append(batch.slice(0, rows - taken))
            taken += min(batch.num_rows, rows - taken)
            if taken >= rows:
                break
        sample = pa.Table.from_batches(batches, schema=schema)
        return InferredSchema(columns, sample, skip, list(bad.problems))

    # -- submit ----------------------------------------------------------------------------------------------

    def submit(self, spec: LoadSpec, source: Path, *, user: Principal = LOCAL, job_id: str | None = None,
               source_name: str | None = None, labels: dict[str, str] | None = None, priority: int = 1) -> Job:
        """Queue the load of ``source`` (which this call takes over: it is deleted when the job ends, or at once
        when this raises). ``source_name`` is the file name shown in the job's text.

        Raises ``ValidationFailed`` (a bad spec, no schema for a new table), ``DatasetReserved``,
        ``EngineNotAvailable``, ``AccessDenied``, ``DatasetNotFound``, ``DestinationNotFound`` (``CREATE_NEVER``),
        ``TableNotEmpty`` (``WRITE_EMPTY``), ``JobAlreadyExists`` (a taken ``job_id``).
        """
        submitted = False
        try:
            job = self._submit(spec, source, user, job_id, source_name, labels or {}, priority)
            submitted = True
        finally:
            if not submitted:
                _remove(source)
        if not self._scheduler.on_finish(job.job_id, lambda: _remove(source)):
            _remove(source)     # already over (it failed at once); its work has run or never will
        return job

    def _submit(self, spec: LoadSpec, source: Path, user: Principal, job_id: str | None, source_name: str | None,
                labels: dict[str, str], priority: int) -> Job:
        _check_target(spec)
        validate_labels(labels)
        if not 1 <= priority <= 5:
            raise ValidationFailed(f"priority: must be between 1 and 5, got {priority}")
        engine = self._engine(spec)
        size = _check_source(source)
        database = engine_database(engine.name, spec.dataset)
        exists = engine.table_exists(database, spec.table)
        self._authorize(user, spec, exists)
        self._check_destination(engine, spec, database, exists, tag="load-check")
        if not exists and spec.schema is None and not spec.autodetect and spec.source_format in (
                "CSV", "NEWLINE_DELIMITED_JSON"):
            raise ValidationFailed(f"schema: table {spec.destination} does not exist; give a schema or set "
                                   "autodetect")
        job = Job(sql=_describe(spec, source_name or source.name), engine=spec.engine, kind=JobKind.LOAD,
                  max_execution_time=self._max_execution_time, labels=dict(labels), priority=priority,
                  user=user.username)
        if job_id is not None:
            job.job_id = job_id
        report = LoadReport(destination=spec.destination, input_bytes=size)
        self._remember(job.job_id, report)

        def work(ctx: WorkContext) -> WorkOutcome:
            return self._run(ctx, spec, source, report)

        job = self._scheduler.submit(job, hooks=JobHooks(work=work))
        if self._audit is not None:
            self._audit.record(user, "load.submit", target=spec.destination, detail={
                "job_id": job.job_id, "engine": spec.engine, "format": spec.source_format,
                "write_disposition": spec.write_disposition, "bytes": size})
        return job

    def report(self, job_id: str) -> LoadReport | None:
        """How a recent load job went (None when this process did not run it, or forgot it)."""
        with self._lock:
            return self._reports.get(job_id)

    # -- the job's work --------------------------------------------------------------------------------------

    def _run(self, ctx: WorkContext, spec: LoadSpec, source: Path, report: LoadReport) -> WorkOutcome:
        try:
            outcome = self._load(ctx, spec, source, report)
        except BqliteError as exc:
            report.error = exc
            raise
        finally:
            _remove(source)
        return outcome

    def _load(self, ctx: WorkContext, spec: LoadSpec, source: Path, report: LoadReport) -> WorkOutcome:
        engine = self._engine(spec)
        _check_source(source)
        tag = ctx.job.job_id
        plan = self._plan(engine, spec, source, tag)
        bad = BadRecords(limit=spec.max_bad_records)
        reader = Reader(source, spec, plan.source, bad, skip_rows=plan.skip_rows, batch_rows=self._batch_rows,
                        block_bytes=self._block_bytes)

        def progress() -> None:
            ctx.set_progress(min(0.99, reader.position / reader.total))

        rows = write_batches(engine, spec, plan, reader, stopped=ctx.stopped, progress=progress, tag=tag)
        report.output_rows, report.bad_records, report.problems = rows, bad.count, list(bad.problems)
        ctx.set_progress(1.0)
        return WorkOutcome(rows=rows, bytes_processed=report.input_bytes, result=_summary(report))

    # -- query results into tables (BigQuery's destinationTable) ----------------------------------------------

    def check_destination(self, spec: LoadSpec, *, user: Principal) -> None:
        """Before a query job with a destination table exists: the name and the caller's grants. Dispositions are
        the job's to judge when it writes (BigQuery's job fails; the submission does not)."""
        _check_target(spec)
        engine = self._engine(spec)
        exists = engine.table_exists(engine_database(engine.name, spec.dataset), spec.table)
        self._authorize(user, spec, exists)

    def write_result(self, spec: LoadSpec, schema: pa.Schema, batches: Iterable[pa.RecordBatch], *, tag: str,
                     stopped: Callable[[], bool] = lambda: False) -> int:
        """A query's stored result into ``spec``'s table with its dispositions, all or nothing (as a load). A new
        or replaced table takes the result's columns, as BigQuery's does."""
        _check_target(spec)     # checked when the query was submitted; again, as this writes where it is told
        engine = self._engine(spec)
        database = engine_database(engine.name, spec.dataset)
        exists = engine.table_exists(database, spec.table)
        self._check_destination(engine, spec, database, exists, tag=tag)
        staged = not exists or spec.write_disposition == "WRITE_TRUNCATE"
        columns = [column_of(f) for f in schema] if staged else None
        plan = WritePlan(database, schema, 0, exists, columns, staged)
        return write_batches(engine, spec, plan, batches, stopped=stopped, progress=lambda: None, tag=tag)

    def _plan(self, engine: Engine, spec: LoadSpec, source: Path, tag: str) -> WritePlan:
        """The schema rows are read into, and whether they go through a stage (created or replaced tables)."""
        database = engine_database(engine.name, spec.dataset)
        exists = engine.table_exists(database, spec.table)
        self._check_destination(engine, spec, database, exists, tag=tag)
        replacing = exists and spec.write_disposition == "WRITE_TRUNCATE"
        staged = not exists or replacing
        skip = spec.skip_leading_rows or 0
        if spec.schema is not None:
            columns = list(spec.schema)
            return WritePlan(database, arrow_schema(columns), skip, exists, columns if staged else None, staged)
        fixed_schema = spec.source_format in ("PARQUET", "AVRO")
        if exists and not replacing and not fixed_schema:
            # Appending CSV/JSON rows: the table's own columns (autodetect only finds the header to skip).
            if spec.autodetect and spec.source_format == "CSV":
                skip = detect(source, spec).skip_rows
            return WritePlan(database, _tables.table_schema(engine, database, spec.table, tag), skip, exists, None,
                             False)
        if spec.autodetect or fixed_schema:
            # A new table (or new contents) takes the file's columns; appended Parquet/Avro rows meet the table's.
            detected = detect(source, spec)
            columns = detected.columns
            return WritePlan(database, arrow_schema(columns), detected.skip_rows, exists, columns if staged else None,
                         staged)
        if not exists:
            raise ValidationFailed(f"schema: table {spec.destination} does not exist; give a schema or set "
                                   "autodetect")
        # WRITE_TRUNCATE without a schema: the new contents keep the table's columns.
        return WritePlan(database, _tables.table_schema(engine, database, spec.table, tag), skip, exists, None, True)

    # -- checks ----------------------------------------------------------------------------------------------

    def _engine(self, spec: LoadSpec) -> Engine:
        engine = self._engines.get(spec.engine)
        if engine is None:
            raise EngineNotAvailable(
                f"Unknown engine {spec.engine!r}; available engines: {', '.join(sorted(self._engines))}")
        return engine

    def _authorize(self, user: Principal, spec: LoadSpec, exists: bool) -> None:
        if self._grants is None:
            return
        role = "owner" if exists and spec.write_disposition == "WRITE_TRUNCATE" else "writer"
        self._grants.require(user, spec.dataset, role, action="load.submit")

    def _check_destination(self, engine: Engine, spec: LoadSpec, database: str, exists: bool, *, tag: str) -> None:
        if not exists and not self._dataset_exists(engine, spec.dataset):
            raise DatasetNotFound(f"Not found: Dataset {spec.dataset}")
        if not exists and spec.create_disposition == "CREATE_NEVER":
            raise DestinationNotFound(f"Not found: Table {spec.destination} (create_disposition is CREATE_NEVER)")
        if exists and spec.write_disposition == "WRITE_EMPTY" and _tables.has_rows(engine, database, spec.table, tag):
            raise TableNotEmpty(f"Already Exists: Table {spec.destination} is not empty and write_disposition is "
                                "WRITE_EMPTY")

    def _dataset_exists(self, engine: Engine, dataset: str) -> bool:
        """The engine has the database, or the dataset was created through us and awaits its first table (a
        grant names it; ``create_table`` creates the database)."""
        if database_exists(engine, dataset):
            return True
        return self._grants is not None and self._grants.dataset_exists(dataset)

    def _remember(self, job_id: str, report: LoadReport) -> None:
        with self._lock:
            self._reports[job_id] = report
            while len(self._reports) > REPORTS_KEPT:
                self._reports.popitem(last=False)


def _check_target(spec: LoadSpec) -> None:
    """The spec's fields, then its dataset: never a reserved one (the sample, the query results, a system catalog),
    as the schema registry and the BigQuery face refuse them for tables. ``preview`` skips this: it names no real
    destination."""
    validate(spec)
    refuse_reserved(spec.dataset)


def _summary(report: LoadReport) -> Iterator[pa.RecordBatch]:
    errors = [{"location": p.location, "message": p.message} for p in report.problems]
    yield pa.RecordBatch.from_pylist([{
        "destination": report.destination, "output_rows": report.output_rows, "input_bytes": report.input_bytes,
        "bad_records": report.bad_records, "errors": errors,
    }], schema=SUMMARY_SCHEMA)


def _describe(spec: LoadSpec, source_name: str) -> str:
    """The job's text in history, in GoogleSQL's LOAD DATA form."""
    verb = "OVERWRITE" if spec.write_disposition == "WRITE_TRUNCATE" else "INTO"
    name = _SOURCE_NAME.sub("_", source_name)[:200] or "upload"
    return f"LOAD DATA {verb} {spec.destination} FROM FILES (format = '{spec.source_format}', uris = ['{name}'])"


def _check_source(path: Path) -> int:
    try:
        if not path.is_file():
            raise ValidationFailed("source: the uploaded file is missing")
        return path.stat().st_size
    except OSError as exc:
        raise ValidationFailed(f"source: the uploaded file cannot be read ({exc.strerror})") from None


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.warning("could not remove load source %s", path)
