"""Writing batches into a load's destination, all or nothing: straight into an existing table through
``engine.open_insert`` (nothing is visible until commit), or into a staging table swapped in at the end (``_tables``),
so a failed or cancelled load leaves the old rows exactly as they were."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa

from bqlite_app.loads import _tables
from bqlite_app.loads._arrow import arrow_schema
from bqlite_app.loads.readers import conform
from bqlite_app.loads.spec import LoadSpec
from engines.base import BulkInsert, Engine
from engines.errors import QueryCancelled
from engines.types import Column

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WritePlan:
    """What the work decided: the schema rows are read into, where they go, and whether a stage is needed."""

    database: str
    source: pa.Schema
    skip_rows: int
    exists: bool
    new_columns: list[Column] | None       # the columns of a table created (None: shaped like the existing one)
    staged: bool


def write_batches(engine: Engine, spec: LoadSpec, plan: WritePlan, batches: Iterable[pa.RecordBatch], *,
                  stopped: Callable[[], bool], progress: Callable[[], None], tag: str) -> int:
    """Every batch into the table, or into a stage swapped in at the end; nothing visible unless all of it is."""
    stage = None
    try:
        if plan.staged:
            stage = _tables.create_stage(engine, plan.database, plan.new_columns,
                                         spec.table if plan.new_columns is None else None, tag)
        target_table = stage or spec.table
        target = _tables.table_schema(engine, plan.database, target_table, tag) \
            if plan.new_columns is None else arrow_schema(plan.new_columns)
        bulk = engine.open_insert(plan.database, target_table)
        rows = _write_all(batches, bulk, target, spec.ignore_unknown_values, stopped=stopped, progress=progress)
        if stage is not None:
            _check_stopped(stopped)
            engine.swap_in(plan.database, stage, spec.table, replace=plan.exists)
            stage = None
    finally:
        if stage is not None:
            _tables.drop_quietly(engine, plan.database, stage)
    return rows


def _write_all(batches: Iterable[pa.RecordBatch], bulk: BulkInsert, target: pa.Schema, ignore_unknown: bool, *,
               stopped: Callable[[], bool], progress: Callable[[], None]) -> int:
    """Every batch into ``bulk``, then commit; on any failure (a cancel included) abort, leaving no rows."""
    try:
        for batch in batches:
            _check_stopped(stopped)
            if batch.num_rows:
                bulk.write(conform(batch, target, ignore_unknown))
            progress()
        _check_stopped(stopped)
        return bulk.commit()
    except BaseException:
        try:
            bulk.abort()
        except Exception:
            log.exception("aborting a load's insert failed")
        raise


def _check_stopped(stopped: Callable[[], bool]) -> None:
    if stopped():
        raise QueryCancelled("the load was stopped")
