"""Bytes a ClickHouse SELECT reads, from its plan and per-column sizes.

- ``EXPLAIN PLAN header=1, json=1, actions=1`` names each table read (``ReadFrom*`` steps) and the columns it reads:
  the step's header plus the inputs of its PREWHERE expression. Subcolumns (``s.x``) count their whole column.
- ``EXPLAIN ESTIMATE`` gives the rows each MergeTree read selects after primary-key and partition pruning.
- ``system.columns.data_uncompressed_bytes / system.tables.total_rows`` gives each column's bytes per row. Compact
  parts (small tables) do not track per-column sizes; there a fixed-size type counts its storage size and the
  variable-size columns share the rest of the table's uncompressed bytes (``system.parts``).
Table functions and system tables (``numbers()``, ``system.*``) count 0 bytes. Nothing runs the query.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_FIXED = {
    "Bool": 1, "Int8": 1, "UInt8": 1, "Int16": 2, "UInt16": 2, "Date": 2, "Int32": 4, "UInt32": 4, "Float32": 4,
    "BFloat16": 2, "Date32": 4, "DateTime": 4, "IPv4": 4, "Int64": 8, "UInt64": 8, "Float64": 8, "Int128": 16,
    "UInt128": 16, "UUID": 16, "IPv6": 16, "Int256": 32, "UInt256": 32,
}


def fixed_width(ch_type: str) -> int | None:
    """Bytes per value of a fixed-size ClickHouse type; None for variable-size types."""
    nullable = re.fullmatch(r"Nullable\((.*)\)", ch_type)
    if nullable:
        inner = fixed_width(nullable.group(1))
        return None if inner is None else inner + 1
    if ch_type in _FIXED:
        return _FIXED[ch_type]
    if ch_type.startswith("DateTime64") or ch_type.startswith("Decimal64"):
        return 8
    decimal = re.fullmatch(r"Decimal\((\d+),\s*\d+\)", ch_type)
    if decimal:
        precision = int(decimal.group(1))
        return 4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32
    fixed = re.fullmatch(r"FixedString\((\d+)\)", ch_type)
    if fixed:
        return int(fixed.group(1))
    if ch_type.startswith("Enum8"):
        return 1
    if ch_type.startswith("Enum16"):
        return 2
    return None


@dataclass
class Read:
    table: str                  # db.table as the plan's description gives it
    columns: set[str]


def walk_reads(node: dict) -> Iterator[Read]:
    if str(node.get("Node Type", "")).startswith("ReadFrom") and "." in str(node.get("Description", "")):
        columns = {h["Name"] for h in node.get("Header") or [] if "Name" in h}
        columns |= set(_input_names(node.get("Prewhere info")))
        yield Read(table=node["Description"], columns=columns)
    for child in node.get("Plans") or []:
        yield from walk_reads(child)


def _input_names(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Inputs" and isinstance(item, list):
                yield from (i["Name"] for i in item if isinstance(i, dict) and "Name" in i)
            else:
                yield from _input_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _input_names(item)


def resolve_column(name: str, columns: dict[str, float]) -> str | None:
    name = name.strip("`")
    if name in columns:
        return name
    base = name.split(".")[0].strip("`")
    return base if base in columns else None


def column_widths(rows: int, table_bytes: int, columns: list[tuple[str, str, int]]) -> dict[str, float]:
    """Bytes per row for each (name, type, data_uncompressed_bytes) column of a table with ``rows`` rows."""
    if rows <= 0:
        return {name: float(fixed_width(ch_type) or 0) for name, ch_type, _ in columns}
    if any(size > 0 for _, _, size in columns):
        return {name: size / rows for name, _, size in columns}
    widths = {name: fixed_width(ch_type) for name, ch_type, _ in columns}
    fixed_total = sum(w for w in widths.values() if w is not None) * rows
    variable = [name for name, w in widths.items() if w is None]
    share = max(table_bytes - fixed_total, 0) / rows / len(variable) if variable else 0.0
    return {name: float(w) if w is not None else max(share, 1.0) for name, w in widths.items()}


def read_bytes(reads: list[Read], selected_rows: dict[str, int], total_rows: dict[str, int],
               widths: dict[str, dict[str, float]]) -> int:
    total = 0.0
    for read in reads:
        table_widths = widths.get(read.table)
        if not table_widths:
            continue
        rows = selected_rows.get(read.table, total_rows.get(read.table, 0))
        used = {resolve_column(c, table_widths) for c in read.columns} - {None}
        total += rows * sum(table_widths[c] for c in used)
    return math.ceil(total)


Query = Callable[[str], list[tuple]]

PLAN_PREFIX = "EXPLAIN PLAN header=1, json=1, actions=1 "


class PlanUnreadable(Exception):
    """The server answered the plan request with something that is not a plan."""


def estimate_reads(query: Query, sql: str) -> tuple[int, int, list[str]]:
    """(bytes, rows, tables) the SELECT ``sql`` would read; ``query`` runs a statement and returns its rows."""
    try:
        root = json.loads(query(PLAN_PREFIX + sql)[0][0])[0]["Plan"]
    except (IndexError, KeyError, TypeError, ValueError) as exc:
        raise PlanUnreadable("ClickHouse gave no readable plan for this statement") from exc
    reads = list(walk_reads(root))
    tables = list(dict.fromkeys(r.table for r in reads))
    if not tables:
        return 0, 0, []
    selected = {f"{db}.{t}": int(rows) for db, t, _parts, rows, *_ in query("EXPLAIN ESTIMATE " + sql)}
    total_rows, widths = _table_sizes(query, tables)
    rows = sum(selected.get(t, total_rows.get(t, 0)) for t in tables)
    return read_bytes(reads, selected, total_rows, widths), rows, tables


def _table_sizes(query: Query, tables: list[str]) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
    names = ", ".join(literal(t) for t in tables)
    columns = query(
        "SELECT c.database || '.' || c.table AS qualified, c.name, c.type, c.data_uncompressed_bytes, "
        "t.total_rows FROM system.columns c JOIN system.tables t ON t.database = c.database AND t.name = c.table "
        f"WHERE qualified IN ({names}) ORDER BY qualified, c.position")
    parts = dict(query(
        "SELECT database || '.' || table AS qualified, sum(data_uncompressed_bytes) FROM system.parts "
        f"WHERE active AND qualified IN ({names}) GROUP BY qualified"))
    grouped: dict[str, list[tuple[str, str, int]]] = {}
    total_rows: dict[str, int] = {}
    for table, column, ch_type, size, table_rows in columns:
        grouped.setdefault(table, []).append((column, ch_type, int(size or 0)))
        total_rows[table] = int(table_rows or 0)
    widths = {t: column_widths(total_rows[t], int(parts.get(t, 0)), cols) for t, cols in grouped.items()}
    return total_rows, widths


def literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
