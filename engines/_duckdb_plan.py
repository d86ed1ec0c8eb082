"""Bytes a DuckDB plan reads, from its scans and a per-column width model.

DuckDB reports no bytes read, so bytes are modelled the way BigQuery bills them: for each table scan in the plan,
the rows it reads times the widths of the columns it reads (projected columns plus pushed-down filter columns).
- Dry run (``EXPLAIN (FORMAT JSON)``): rows = the table's row count (``duckdb_tables().estimated_size``), since a
  filter still reads every row of its columns; plans the optimizer answers from statistics (``count(*)``, filters
  that zone maps rule out) read nothing and cost 0.
- After a run (the query profile): rows = the scan's actual ``rows_scanned``, after row-group pruning.
- Widths: fixed-size types from their storage size; VARCHAR, BLOB, JSON and nested types from the average length
  in the table's first 2048 rows (one cheap query per table, cached until its row count changes).
- Table functions (``range``, ``read_parquet``...) count 8 bytes per row per projected column from the plan's
  estimated cardinality.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

from engines._ddl_duckdb import quote

SAMPLE_ROWS = 2048
FUNCTION_COLUMN_BYTES = 8

_FIXED = {
    "BOOLEAN": 1, "TINYINT": 1, "UTINYINT": 1, "SMALLINT": 2, "USMALLINT": 2, "INTEGER": 4, "UINTEGER": 4,
    "BIGINT": 8, "UBIGINT": 8, "HUGEINT": 16, "UHUGEINT": 16, "FLOAT": 4, "DOUBLE": 8, "DATE": 4, "TIME": 8,
    "TIME WITH TIME ZONE": 8, "TIMESTAMP": 8, "TIMESTAMP WITH TIME ZONE": 8, "TIMESTAMP_S": 8, "TIMESTAMP_MS": 8,
    "TIMESTAMP_NS": 8, "INTERVAL": 16, "UUID": 16,
}


def fixed_width(data_type: str) -> int | None:
    """Storage bytes of a fixed-size type, None for variable-size ones."""
    if data_type in _FIXED:
        return _FIXED[data_type]
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*\d+\)", data_type)
    if decimal:
        precision = int(decimal.group(1))
        return 2 if precision <= 4 else 4 if precision <= 9 else 8 if precision <= 18 else 16
    if data_type.startswith("ENUM("):
        return 2
    return None


def _length_expr(column: str, data_type: str) -> str:
    if data_type in ("VARCHAR", "JSON"):
        return f"strlen({quote(column)})"
    if data_type == "BLOB":
        return f"octet_length({quote(column)})"
    return f"strlen(CAST({quote(column)} AS VARCHAR))"


@dataclass(frozen=True)
class TableWidths:
    rows: int
    widths: dict[str, int]          # column -> bytes per row


# Results here are read with fetchall(): on DuckDB 2.x a half-read result keeps its transaction snapshot open, and the
# worker connection that runs these reads is reused by the next query, which would then not see newer tables.


class WidthModel:
    """Column widths per table, cached by row count so a sample query runs only when data changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], TableWidths] = {}

    def table(self, cur: duckdb.DuckDBPyConnection, schema: str, table: str, *, current_rows: bool = True,
              ) -> TableWidths | None:
        """Column widths of a table. ``current_rows=False`` accepts cached widths without re-reading the row count:
        a finished query's profile already says how many rows it scanned, and average widths drift slowly."""
        if not current_rows:
            with self._lock:
                cached = self._cache.get((schema, table))
            if cached is not None:
                return cached
        rows = cur.execute(
            "SELECT estimated_size FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?", [schema, table]).fetchall()
        if not rows:
            return None
        rows = rows[0]
        key = (schema, table)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached.rows == rows[0]:
            return cached
        columns = cur.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()
        widths = {name: fixed_width(data_type) for name, data_type in columns}
        variable = [(name, data_type) for name, data_type in columns if widths[name] is None]
        if variable:
            averages = self._sample(cur, schema, table, variable)
            sampled = zip(variable, averages, strict=True)
            widths.update({name: max(1, math.ceil(avg)) for (name, _), avg in sampled})
        result = TableWidths(rows=rows[0], widths={k: v or 1 for k, v in widths.items()})
        with self._lock:
            self._cache[key] = result
        return result

    @staticmethod
    def _sample(cur: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[tuple[str, str]]) -> list[float]:
        exprs = ", ".join(f"coalesce(avg({_length_expr(name, data_type)}), 0)" for name, data_type in columns)
        names = ", ".join(quote(name) for name, _ in columns)
        sql = f"SELECT {exprs} FROM (SELECT {names} FROM {quote(schema)}.{quote(table)} LIMIT {SAMPLE_ROWS})"
        return [float(v) for v in cur.execute(sql).fetchall()[0]]


@dataclass(frozen=True)
class Scan:
    schema: str | None          # None for a table function
    table: str | None
    columns: tuple[str, ...]    # as the plan names them (projections and filter text)
    filters: str
    estimated_rows: int
    rows_scanned: int | None    # only in a profile


def walk_scans(nodes: list[dict], database: str) -> Iterator[Scan]:
    for node in nodes:
        info = node.get("extra_info") or {}
        if isinstance(info, dict) and ("Table" in info or "Function" in info):
            yield _scan(node, info, database)
        yield from walk_scans(node.get("children") or [], database)


def _as_list(value: object) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _scan(node: dict, info: dict, database: str) -> Scan:
    schema = table = None
    if "Table" in info:
        name = str(info["Table"])
        if name.startswith(database + "."):
            name = name[len(database) + 1:]
        schema, _, table = name.partition(".")
        if not table:
            schema, table = "main", schema
    cardinality = str(info.get("Estimated Cardinality", "0")).lstrip("~")
    # Table functions report no rows_scanned in a profile; the rows they produced are what they read.
    rows_scanned = node.get("rows_scanned") if table is not None else node.get("intermediate_rows")
    return Scan(
        schema=schema, table=table, columns=tuple(_as_list(info.get("Projections"))),
        filters=" ".join(_as_list(info.get("Filters"))),
        estimated_rows=int(cardinality) if cardinality.isdigit() else 0,
        rows_scanned=int(rows_scanned) if isinstance(rows_scanned, (int, float)) else None,
    )


def columns_read(scan: Scan, table_columns: list[str]) -> set[str]:
    """Table columns a scan reads: its projections (a struct field reads its column) and its filter columns."""
    known = {c.lower(): c for c in table_columns}
    read = set()
    for item in scan.columns:
        item = item.strip('"')
        base = known.get(item.lower()) or known.get(item.split(".")[0].strip('"').lower())
        if base:
            read.add(base)
    for column in table_columns:
        if scan.filters and re.search(rf'(?<![\w."]){re.escape(column)}(?![\w"])|"{re.escape(column)}"',
                                      scan.filters, re.IGNORECASE):
            read.add(column)
    return read


def scan_bytes(
    cur: duckdb.DuckDBPyConnection, model: WidthModel, scans: list[Scan], *, actual: bool,
) -> tuple[int, int]:
    """(bytes, rows) read by the scans; ``actual`` uses the profile's rows_scanned instead of table row counts."""
    total_bytes = total_rows = 0
    for scan in scans:
        if scan.table is None:
            rows = scan.rows_scanned if actual and scan.rows_scanned is not None else scan.estimated_rows
            total_bytes += rows * FUNCTION_COLUMN_BYTES * max(1, len(scan.columns))
            total_rows += rows
            continue
        measured = actual and scan.rows_scanned is not None
        widths = model.table(cur, scan.schema or "main", scan.table, current_rows=not measured)
        if widths is None:
            continue
        rows = scan.rows_scanned if measured else widths.rows
        total_bytes += rows * sum(widths.widths[c] for c in columns_read(scan, list(widths.widths)))
        total_rows += rows
    return total_bytes, total_rows


def referenced_tables(scans: list[Scan]) -> list[str]:
    return list(dict.fromkeys(f"{s.schema}.{s.table}" for s in scans if s.table is not None))


def parsed_tables(cur: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """Tables a SELECT names in its text, for plans that read none (``count(*)`` answered from statistics)."""
    try:
        parsed = json.loads(cur.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchall()[0][0])
    except (duckdb.Error, TypeError, ValueError):
        return []
    if parsed.get("error"):
        return []
    found: list[tuple[str, str]] = []
    ctes: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("table_name"):
                found.append((node.get("schema_name") or "", node["table_name"]))
            for entry in (node.get("cte_map") or {}).get("map", []) if isinstance(node.get("cte_map"), dict) else []:
                ctes.add(str(entry.get("key", "")).lower())
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(parsed.get("statements", []))
    return [f"{schema or 'main'}.{table}" for schema, table in found if schema or table.lower() not in ctes]
