"""Neutral column types -> ClickHouse DDL.

Choices:
- enums become ``LowCardinality(String)``: labels stay readable and an unknown number survives as its number string
  (an Enum8/16 would reject it);
- binary and json are ``String`` (ClickHouse strings are arbitrary bytes; the JSON type would re-shape the text);
- timestamps are ``DateTime64(6, 'UTC')``; dates are ``Date32`` (Date stops at 2149);
- naive timestamps (``tz=None``, BigQuery's DATETIME) are ``DateTime64(6, 'UTC')`` too: ClickHouse has no zone-less
  date-time (one declared without a zone takes the server's, which would shift the wall clock whenever the server
  is not on UTC), so the wall-clock reading is kept as the UTC instant with the same digits;
- times of day are ``Time64(6)``; decimals are ``Decimal(p, s)`` (up to 76 digits, so BIGNUMERIC fits whole);
- intervals are ``Int64`` microseconds: ClickHouse's Interval types cannot be stored in a table;
- nullability: scalars become ``Nullable(T)``; a nullable struct is ``Nullable(Tuple(...))`` (supported since
  25.x and on in 26.x); lists and maps cannot be Nullable, so a null list/map is stored empty, matching protobuf's
  "repeated is never null"; map keys are never Nullable.
"""

from __future__ import annotations

import re

from engines.types import Column, ColumnType, Decimal, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp

_ZONE = re.compile(r"[A-Za-z0-9_+\-/]+")   # IANA names; they are pasted into DDL, so nothing else passes
_SCALARS = {
    "bool": "Bool", "int8": "Int8", "int16": "Int16", "int32": "Int32", "int64": "Int64",
    "uint8": "UInt8", "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64",
    "float32": "Float32", "float64": "Float64", "string": "String", "binary": "String", "date": "Date32",
    "time": "Time64(6)", "json": "String",
}


def quote(identifier: str) -> str:
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def qualified(database: str, table: str) -> str:
    return f"{quote(database)}.{quote(table)}"


def render_type(column_type: ColumnType, *, nullable: bool = False) -> str:
    # List items and map values have no nullability of their own in the neutral tree, so they stay plain.
    if isinstance(column_type, ListOf):
        return f"Array({render_type(column_type.item)})"
    if isinstance(column_type, MapOf):
        return f"Map({render_type(column_type.key)}, {render_type(column_type.value)})"
    if isinstance(column_type, Enum):
        return "LowCardinality(Nullable(String))" if nullable else "LowCardinality(String)"
    if isinstance(column_type, Struct):
        fields = ", ".join(f"{quote(f.name)} {render_type(f.type, nullable=f.nullable)}" for f in column_type.fields)
        inner = f"Tuple({fields})"
    elif isinstance(column_type, Scalar):
        inner = _SCALARS[column_type.kind]
    elif isinstance(column_type, Timestamp):
        tz = column_type.tz or "UTC"
        if not _ZONE.fullmatch(tz):
            raise ValueError(f"invalid time zone {tz!r}")
        inner = f"DateTime64(6, '{tz}')"
    elif isinstance(column_type, Decimal):
        inner = f"Decimal({column_type.precision}, {column_type.scale})"
    elif isinstance(column_type, Interval):
        inner = "Int64"
    else:
        raise TypeError(f"unsupported column type {column_type!r}")
    return f"Nullable({inner})" if nullable else inner


def render_columns(columns: list[Column]) -> str:
    """The parenthesised column list of a CREATE TABLE."""
    if not columns:
        raise ValueError("a table needs at least one column")
    body = ",\n".join(f"    {quote(c.name)} {render_type(c.type, nullable=c.nullable)}" for c in columns)
    return f"(\n{body}\n)"


def render_create(database: str, table: str, columns: list[Column], *, if_not_exists: bool = True,
                  order_by: str = "tuple()") -> str:
    """``order_by`` is a rendered sort key (``_ch_tables.order_by``); ``tuple()`` keeps insertion order."""
    exists = "IF NOT EXISTS " if if_not_exists else ""
    return (f"CREATE TABLE {exists}{qualified(database, table)} {render_columns(columns)} "
            f"ENGINE = MergeTree ORDER BY {order_by}")


def render_additions(columns: list[Column]) -> str:
    """The ``ADD COLUMN`` clauses of an ALTER TABLE."""
    return ", ".join(
        f"ADD COLUMN IF NOT EXISTS {quote(c.name)} {render_type(c.type, nullable=c.nullable)}" for c in columns
    )


def render_add_columns(database: str, table: str, columns: list[Column]) -> str:
    return f"ALTER TABLE {qualified(database, table)} {render_additions(columns)}"
