"""The DuckDB engine's catalog and DDL: what tables exist, and creating, changing, swapping and filling them.

Each runs on a fresh bookkeeping connection (``_cursor``), never on a query connection, so it never waits for a
query slot. DuckDB's DDL is transactional, so every multi-step change is one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb
import pyarrow as pa

from engines import _ddl_duckdb as ddl
from engines._bulk import DuckDBBulkInsert
from engines._duckdb_errors import translate
from engines.base import CatalogColumn, CatalogTable
from engines.types import Column


class DuckDBTables:
    """Catalog and DDL methods of ``DuckDBEngine``, which provides the attributes declared here."""

    _cursor: Callable[[], duckdb.DuckDBPyConnection]

    def catalog(self) -> list[CatalogTable]:
        with self._cursor() as cur:
            rows = cur.execute(
                """
                SELECT c.schema_name, c.table_name, t.estimated_size, c.column_name, c.data_type
                FROM duckdb_columns() c
                LEFT JOIN duckdb_tables() t USING (database_name, schema_name, table_name)
                WHERE c.database_name = current_database() AND NOT c.internal
                  AND c.schema_name NOT IN ('information_schema', 'pg_catalog')
                ORDER BY c.schema_name, c.table_name, c.column_index
                """).fetchall()
        tables: dict[tuple[str, str], CatalogTable] = {}
        for schema, table, size, column, data_type in rows:
            entry = tables.setdefault((schema, table), CatalogTable(schema, table, [], size))
            entry.columns.append(CatalogColumn(column, data_type))
        return list(tables.values())

    def databases(self) -> list[str]:
        with self._cursor() as cur:
            rows = cur.execute("SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() "
                               "AND NOT internal AND schema_name NOT IN ('information_schema', 'pg_catalog') "
                               "ORDER BY schema_name").fetchall()
        return [name for (name,) in rows]

    def views(self) -> dict[tuple[str, str], str]:
        with self._cursor() as cur:
            rows = cur.execute("SELECT schema_name, view_name, sql FROM duckdb_views() "
                               "WHERE NOT internal AND database_name = current_database()").fetchall()
        return {(schema, name): sql for schema, name, sql in rows if sql}

    def table_exists(self, database: str, table: str) -> bool:
        with self._cursor() as cur:
            return cur.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = ? AND table_name = ?", [database, table]).fetchone()[0] > 0

    def drop_table(self, database: str, table: str) -> None:
        self._run(f"DROP TABLE IF EXISTS {ddl.qualified(database, table)}")

    def render_ddl(self, database: str, table: str, columns: list[Column], *, if_not_exists: bool = True,
                   shard_key: str | None = None, sort_by: Sequence[str] = ()) -> str:
        # One file, no shards; and DuckDB keeps no declared sort order (zone maps follow insertion order).
        return ddl.render_create(database, table, columns, if_not_exists=if_not_exists)

    def create_table(
        self, database: str, table: str, columns: list[Column], *, if_not_exists: bool = True, replace: bool = False,
        shard_key: str | None = None, sort_by: Sequence[str] = (),
    ) -> str:
        statement = self.render_ddl(database, table, columns, if_not_exists=if_not_exists and not replace)
        drop = f"DROP TABLE IF EXISTS {ddl.qualified(database, table)}; " if replace else ""
        # One transaction, so a replace never leaves the table missing.
        self._run(f"BEGIN; CREATE SCHEMA IF NOT EXISTS {ddl.quote(database)}; {drop}{statement}; COMMIT")
        return statement

    def create_table_like(self, database: str, table: str, like: str) -> str:
        statement = (f"CREATE TABLE {ddl.qualified(database, table)} AS "
                     f"SELECT * FROM {ddl.qualified(database, like)} LIMIT 0")
        self._run(statement)
        return statement

    def swap_in(self, database: str, stage: str, table: str, *, replace: bool) -> None:
        # DDL is transactional in DuckDB: readers see the old table or the new one, never neither.
        drop = f"DROP TABLE IF EXISTS {ddl.qualified(database, table)}; " if replace else ""
        self._run(f"BEGIN; {drop}ALTER TABLE {ddl.qualified(database, stage)} RENAME TO {ddl.quote(table)}; COMMIT")

    def insert_arrow(self, database: str, table: str, data: pa.Table) -> int:
        """One INSERT ... BY NAME inside a transaction: every row lands or none does."""
        bulk = self.open_insert(database, table)
        for batch in data.to_batches():
            bulk.write(batch)
        return bulk.commit()

    def open_insert(self, database: str, table: str) -> DuckDBBulkInsert:
        return DuckDBBulkInsert(self._cursor(), database, table, lambda exc: translate(exc, ""))

    def add_columns(self, database: str, table: str, columns: list[Column]) -> str:
        statements = ddl.render_add_columns(database, table, columns)
        self._run("BEGIN; " + "; ".join(statements) + "; COMMIT")
        return ";\n".join(statements)

    def _run(self, sql: str) -> None:
        with self._cursor() as cur:
            try:
                cur.execute(sql)
            except duckdb.Error as exc:
                raise translate(exc, sql) from exc
