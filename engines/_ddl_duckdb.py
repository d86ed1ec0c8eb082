"""Neutral column types -> DuckDB DDL.

Choices:
- enums become VARCHAR, not ENUM: an unknown enum number must survive, and it arrives as its number string, which a
  DuckDB ENUM would reject;
- json is DuckDB's JSON type (the json extension is statically linked, so no download is involved);
- timestamps are TIMESTAMPTZ (microseconds, stored as UTC instants); naive timestamps (``tz=None``, BigQuery's
  DATETIME) are TIMESTAMP; times of day are TIME; intervals are INTERVAL;
- decimals are DECIMAL(p, s) up to DuckDB's cap of 38 digits. A wider one (BIGNUMERIC is (76, 38)) becomes
  DECIMAL(38, s') with s' = round(s * 38 / p), keeping the declared split between integer and fraction digits
  (BIGNUMERIC -> DECIMAL(38, 19)): values stay exact and computable, and one that does not fit is rejected on insert
  rather than rounded. ``narrow_decimal`` is that rule, for callers that build Arrow batches for such a table;
- NOT NULL applies to top-level columns only, since DuckDB has no per-field nullability inside STRUCT/LIST/MAP.
"""

from __future__ import annotations

from engines.types import Column, ColumnType, Decimal, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp

MAX_PRECISION = 38

_SCALARS = {
    "bool": "BOOLEAN", "int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT",
    "uint8": "UTINYINT", "uint16": "USMALLINT", "uint32": "UINTEGER", "uint64": "UBIGINT",
    "float32": "FLOAT", "float64": "DOUBLE", "string": "VARCHAR", "binary": "BLOB", "date": "DATE", "time": "TIME",
    "json": "JSON",
}


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def qualified(database: str, table: str) -> str:
    return f"{quote(database)}.{quote(table)}"


def narrow_decimal(precision: int, scale: int) -> tuple[int, int]:
    """The (precision, scale) DuckDB stores a decimal of ``precision`` digits in (see the module notes)."""
    if precision <= MAX_PRECISION:
        return precision, scale
    return MAX_PRECISION, round(scale * MAX_PRECISION / precision)


def render_type(column_type: ColumnType) -> str:
    if isinstance(column_type, Scalar):
        return _SCALARS[column_type.kind]
    if isinstance(column_type, Timestamp):
        return "TIMESTAMPTZ" if column_type.tz is not None else "TIMESTAMP"
    if isinstance(column_type, Decimal):
        precision, scale = narrow_decimal(column_type.precision, column_type.scale)
        return f"DECIMAL({precision}, {scale})"
    if isinstance(column_type, Interval):
        return "INTERVAL"
    if isinstance(column_type, Enum):
        return "VARCHAR"
    if isinstance(column_type, ListOf):
        return f"{render_type(column_type.item)}[]"
    if isinstance(column_type, MapOf):
        return f"MAP({render_type(column_type.key)}, {render_type(column_type.value)})"
    if isinstance(column_type, Struct):
        fields = ", ".join(f"{quote(f.name)} {render_type(f.type)}" for f in column_type.fields)
        return f"STRUCT({fields})"
    raise TypeError(f"unsupported column type {column_type!r}")


def render_create(database: str, table: str, columns: list[Column], *, if_not_exists: bool = True) -> str:
    if not columns:
        raise ValueError("a table needs at least one column")
    lines = []
    for column in columns:
        null = "" if column.nullable else " NOT NULL"
        lines.append(f"    {quote(column.name)} {render_type(column.type)}{null}")
    exists = "IF NOT EXISTS " if if_not_exists else ""
    body = ",\n".join(lines)
    return f"CREATE TABLE {exists}{qualified(database, table)} (\n{body}\n)"


def render_add_columns(database: str, table: str, columns: list[Column]) -> list[str]:
    """One ALTER per column (DuckDB adds one column at a time); new columns are nullable so old rows stay valid."""
    return [
        f"ALTER TABLE {qualified(database, table)} ADD COLUMN IF NOT EXISTS {quote(c.name)} {render_type(c.type)}"
        for c in columns
    ]
