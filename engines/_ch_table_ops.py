"""The ClickHouse engine's catalog and DDL: what tables exist, and creating, changing, swapping and filling them.

One server and a cluster (``CLICKHOUSE_CLUSTER``) differ only in the statements, which ``_ch_tables`` renders; this
mixin runs them on the engine's control client (``_call``), and its inserts on a pooled client (``_lease``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.exceptions import ClickHouseError

from engines import _ch_plan as plan
from engines import _ch_tables as ch_tables
from engines._bulk import ClickHouseBulkInsert
from engines._ch_errors import translate
from engines.base import CatalogColumn, CatalogTable
from engines.errors import EngineQueryError
from engines.types import Column

SYSTEM_DATABASES = ("system", "INFORMATION_SCHEMA", "information_schema")


class ClickHouseTables:
    """Catalog and DDL methods of ``ClickHouseEngine``, which provides the attributes declared here."""

    cluster: str | None
    _call: Callable[..., Any]
    _call_read: Callable[[Callable[[Any], Any]], Any]
    _lease: Callable[[], contextlib.AbstractContextManager[Any]]

    def catalog(self) -> list[CatalogTable]:
        hidden = ", ".join(plan.literal(d) for d in SYSTEM_DATABASES)
        rows = self._call_read(lambda c: c.query(
            "SELECT t.database, t.name, t.total_rows, c.name, c.type FROM system.tables t "
            "JOIN system.columns c ON c.database = t.database AND c.table = t.name "
            f"WHERE t.database NOT IN ({hidden}) AND NOT t.is_temporary "
            "ORDER BY t.database, t.name, c.position").result_rows)
        tables: dict[tuple[str, str], CatalogTable] = {}
        for database, table, total_rows, column, ch_type in rows:
            if self._hidden(table):
                continue
            entry = tables.setdefault((database, table), CatalogTable(database, table, [], total_rows))
            entry.columns.append(CatalogColumn(column, ch_type))
        return list(tables.values())

    def databases(self) -> list[str]:
        hidden = ", ".join(plan.literal(d) for d in SYSTEM_DATABASES)
        rows = self._call_read(lambda c: c.query(
            f"SELECT name FROM system.databases WHERE name NOT IN ({hidden}) ORDER BY name").result_rows)
        return [str(name) for (name,) in rows]

    def views(self) -> dict[tuple[str, str], str]:
        rows = self._call_read(lambda c: c.query(
            "SELECT database, name, as_select FROM system.tables WHERE engine = 'View'").result_rows)
        return {(str(database), str(name)): str(sql) for database, name, sql in rows if sql}

    def _hidden(self, table: str) -> bool:
        """A cluster table's shard-local half: the Distributed table under the user-facing name stands for it."""
        return self.cluster is not None and ch_tables.is_local(table)

    def table_exists(self, database: str, table: str) -> bool:
        if self._hidden(table):
            return False
        sql = (f"SELECT count() FROM system.tables "
               f"WHERE database = {plan.literal(database)} AND name = {plan.literal(table)}")
        return int(self._call_read(lambda c: c.command(sql))) > 0

    def drop_table(self, database: str, table: str) -> None:
        self._run(ch_tables.drop(database, table, self.cluster))

    def render_ddl(self, database: str, table: str, columns: list[Column], *, if_not_exists: bool = True,
                   shard_key: str | None = None, sort_by: Sequence[str] = ()) -> str:
        return _joined(ch_tables.create(database, table, columns, self.cluster, if_not_exists=if_not_exists,
                                        shard_key=shard_key, sort_by=sort_by))

    def create_table(
        self, database: str, table: str, columns: list[Column], *, if_not_exists: bool = True, replace: bool = False,
        shard_key: str | None = None, sort_by: Sequence[str] = (),
    ) -> str:
        statements = ch_tables.create(database, table, columns, self.cluster,
                                      if_not_exists=if_not_exists and not replace, shard_key=shard_key,
                                      sort_by=sort_by)
        self._command(ch_tables.create_database(database, self.cluster))
        if replace:
            self.drop_table(database, table)
        self._run(statements)
        return _joined(statements)

    def create_table_like(self, database: str, table: str, like: str) -> str:
        sort_key, key = self._cluster_layout(database, like) if self.cluster else ("tuple()", None)
        statements = ch_tables.create_like(database, table, like, self.cluster, sort_key=sort_key, key=key)
        self._run(statements)
        return _joined(statements)

    def _cluster_layout(self, database: str, table: str) -> tuple[str, str | None]:
        """A cluster table's sort key (of its local half) and sharding expression (of its Distributed half)."""
        local = ch_tables.local_name(table)
        rows = self._call_read(lambda c: c.query(
            "SELECT name, sorting_key, engine_full FROM system.tables "
            f"WHERE database = {plan.literal(database)} AND name IN ({plan.literal(table)}, {plan.literal(local)})"
        ).result_rows)
        found = {str(name): (str(sorting_key), str(engine_full)) for name, sorting_key, engine_full in rows}
        return found.get(local, ("", ""))[0] or "tuple()", ch_tables.distributed_key(found.get(table, ("", ""))[1])

    def swap_in(self, database: str, stage: str, table: str, *, replace: bool) -> None:
        exists = self.table_exists(database, table)
        if exists and not replace:
            raise EngineQueryError(f"Table {database}.{table} already exists")
        if not exists and self.cluster is None:
            self._run(ch_tables.rename(database, stage, table))
            return
        if not exists:
            # A Distributed table names its local table for good: give ``table`` a pair of its own, then exchange.
            self.create_table_like(database, table, stage)
        self._run(ch_tables.exchange(database, stage, table, self.cluster))
        self.drop_table(database, stage)            # the old rows, now under the stage's name

    def attach_stage(self, database: str, table: str, stage: str) -> None:
        """Move every row of ``stage`` (from ``create_table_like``) into ``table`` at once, for ``open_insert``."""
        self._run(ch_tables.attach_all(database, table, stage, self.cluster))

    def insert_arrow(self, database: str, table: str, data: pa.Table) -> int:
        """One INSERT of one block: a MergeTree writes it as a single part, so it lands whole or not at all."""
        if data.num_rows == 0:
            return 0
        rows = str(max(data.num_rows, 1_048_449))
        settings = {"max_insert_block_size": rows, "min_insert_block_size_rows": rows,
                    "min_insert_block_size_bytes": "0", **(ch_tables.FOREGROUND_INSERT if self.cluster else {})}
        with self._lease() as client:
            try:
                client.insert_arrow(table, _for_clickhouse(data), database=database, settings=settings)
            except ClickHouseError as exc:
                raise translate(exc, "", 0) from exc
        return data.num_rows

    def open_insert(self, database: str, table: str) -> ClickHouseBulkInsert:
        return ClickHouseBulkInsert(self, database, table)

    def add_columns(self, database: str, table: str, columns: list[Column]) -> str:
        statements = ch_tables.add_columns(database, table, columns, self.cluster)
        self._run(statements)
        return _joined(statements)

    def _run(self, statements: list[str]) -> None:
        for statement in statements:
            self._command(statement)

    def _command(self, sql: str) -> None:
        try:
            self._call(lambda c: c.command(sql))
        except ClickHouseError as exc:
            raise translate(exc, sql, 0) from exc




def _joined(statements: list[str]) -> str:
    """DDL for display: one server's single statement as it is, a cluster's several separated by ``;``."""
    return ";\n".join(statements)


def _for_clickhouse(data: pa.Table) -> pa.Table:
    """Durations become int64 microseconds, the Int64 column the DDL renders for intervals."""
    columns = []
    for column in data.columns:
        if pa.types.is_duration(column.type):
            column = column.cast(pa.duration("us")).cast(pa.int64())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=data.column_names)
