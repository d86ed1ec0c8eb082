"""The destination table, per engine: does it exist, what it holds, and the staging table a load fills before it
takes the destination's place.

A load that creates or replaces a table writes into a staging table (``__bqlite_load_<id>``) and swaps it in only
after every row is in, so a failed or cancelled load leaves the old table exactly as it was. Creating and swapping
are the engine's (``Engine.create_table_like``, ``Engine.swap_in``), so a ClickHouse cluster does both ON CLUSTER;
the reads here are plain SELECTs, their names quoted by ``Engine.quote``. Which database holds a dataset, and
whether it exists, is ``bqlite_app.datasets``'.
"""

from __future__ import annotations

import uuid

import pyarrow as pa

from engines.base import Engine
from engines.types import Column

STAGE_PREFIX = "__bqlite_load_"


def qualified(engine: Engine, database: str, table: str) -> str:
    return f"{engine.quote(database)}.{engine.quote(table)}"


def _run(engine: Engine, sql: str, tag: str) -> list[pa.RecordBatch]:
    return list(engine.execute(sql, query_tag=f"{tag}-{uuid.uuid4().hex[:8]}"))


def table_schema(engine: Engine, database: str, table: str, tag: str) -> pa.Schema:
    """The destination's columns as the engine hands them back (the types an insert of Arrow accepts)."""
    return _run(engine, f"SELECT * FROM {qualified(engine, database, table)} LIMIT 0", tag)[0].schema


def has_rows(engine: Engine, database: str, table: str, tag: str) -> bool:
    batches = _run(engine, f"SELECT 1 AS one FROM {qualified(engine, database, table)} LIMIT 1", tag)
    return any(b.num_rows for b in batches)


def create_stage(engine: Engine, database: str, columns: list[Column] | None, like: str | None, tag: str) -> str:
    """A new empty staging table: of ``columns``, or shaped like the existing table ``like``."""
    stage = f"{STAGE_PREFIX}{uuid.uuid4().hex[:16]}"
    if columns is not None:
        engine.create_table(database, stage, columns, if_not_exists=False)
    else:
        engine.create_table_like(database, stage, like or "")
    return stage


def drop_quietly(engine: Engine, database: str, stage: str) -> None:
    try:
        engine.drop_table(database, stage)
    except Exception:   # the stage may never have been created; the load's own error is what matters
        pass
