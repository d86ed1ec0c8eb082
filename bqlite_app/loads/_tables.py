"""The destination table, per engine: does it exist, what it holds, and the staging table a load fills before it
takes the destination's place.

A load that creates or replaces a table writes into a staging table (``__bqlite_load_<id>``) and swaps it in only
after every row is in, so a failed or cancelled load leaves the old table exactly as it was:
- DuckDB: ``DROP`` + ``ALTER TABLE ... RENAME`` in one transaction (DuckDB's DDL is transactional);
- ClickHouse: ``EXCHANGE TABLES`` (atomic in an Atomic database), then the old table (now the stage) is dropped.

The statements here are the engines' own SQL; names are quoted by the engines' DDL helpers and no literal is built
from input. Which database holds a dataset, and whether it exists, is ``bqlite_app.datasets``'.
"""

from __future__ import annotations

import uuid

import pyarrow as pa

from engines import _ddl_clickhouse, _ddl_duckdb
from engines.base import Engine
from engines.types import Column

STAGE_PREFIX = "__bqlite_load_"


def qualified(engine: Engine, database: str, table: str) -> str:
    ddl = _ddl_duckdb if engine.name == "duckdb" else _ddl_clickhouse
    return ddl.qualified(database, table)


def _quote(engine: Engine, name: str) -> str:
    ddl = _ddl_duckdb if engine.name == "duckdb" else _ddl_clickhouse
    return ddl.quote(name)


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
    elif engine.name == "duckdb":
        _run(engine, f"CREATE TABLE {qualified(engine, database, stage)} AS "
                     f"SELECT * FROM {qualified(engine, database, like or '')} LIMIT 0", tag)
    else:
        _run(engine, f"CREATE TABLE {qualified(engine, database, stage)} AS {qualified(engine, database, like or '')}",
             tag)
    return stage


def swap_in(engine: Engine, database: str, stage: str, table: str, *, replace: bool, tag: str) -> None:
    """Make ``stage`` the table ``table``; with ``replace`` the old ``table`` goes, at once for readers."""
    target, staged = qualified(engine, database, table), qualified(engine, database, stage)
    if engine.name == "duckdb":
        drop = f"DROP TABLE IF EXISTS {target}; " if replace else ""
        _run(engine, f"BEGIN; {drop}ALTER TABLE {staged} RENAME TO {_quote(engine, table)}; COMMIT", tag)
        return
    if replace and engine.table_exists(database, table):
        _run(engine, f"EXCHANGE TABLES {staged} AND {target}", tag)
        engine.drop_table(database, stage)      # the old rows, now under the stage's name
    else:
        _run(engine, f"RENAME TABLE {staged} TO {target}", tag)


def drop_quietly(engine: Engine, database: str, stage: str) -> None:
    try:
        engine.drop_table(database, stage)
    except Exception:   # the stage may never have been created; the load's own error is what matters
        pass
