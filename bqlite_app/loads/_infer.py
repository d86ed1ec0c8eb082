"""Schema autodetection from a sample of the file, as BigQuery's ``autodetect`` does.

CSV: each column gets the narrowest type every sampled value parses as (INT64, FLOAT64, BOOL, DATE, TIMESTAMP,
TIME, else STRING); names come from the header row, or are ``<type>_field_<n>`` like Google's. NDJSON: arrays
become REPEATED fields and objects RECORD fields, merged over the sampled rows; ISO dates and timestamps in strings
become DATE and TIMESTAMP. A field seen with incompatible shapes (an array here, a number there) is stored as JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from bqlite_app.errors import ValidationFailed
from bqlite_app.loads._convert import convert_strings
from engines.types import Column, ColumnType, ListOf, Scalar, Struct, Timestamp

# The CSV candidates, narrowest first, with the name prefix Google gives header-less columns.
_CSV_CANDIDATES: tuple[tuple[ColumnType, pa.DataType, str], ...] = (
    (Scalar("int64"), pa.int64(), "int64"),
    (Scalar("float64"), pa.float64(), "double"),
    (Scalar("bool"), pa.bool_(), "bool"),
    (Scalar("date"), pa.date32(), "date"),
    (Timestamp(), pa.timestamp("us", tz="UTC"), "timestamp"),
    (Scalar("time"), pa.time64("us"), "time"),
)
_BOOL_WORDS = {"true", "false"}     # 1/0 are integers, yes/no are strings, as Google's detection has it
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(\s*(Z|UTC|[+-]\d{2}(:?\d{2})?))?$")
_TIME = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]")
MAX_NAME = 300
# BigQuery's limits: RECORDs nest at most 15 levels (deeper values are kept as JSON), a table has at most 10,000
# columns.
MAX_DEPTH = 15
MAX_COLUMNS = 10_000


@dataclass(frozen=True)
class CsvGuess:
    columns: list[Column]
    header: bool            # the first sampled row was a header


# -- CSV ---------------------------------------------------------------------------------------------------------

def csv_columns(rows: list[list[str | None]], *, header: bool | None) -> CsvGuess:
    """Columns for sampled CSV ``rows`` (strings, None for null); ``header`` None: decide whether row 0 is one."""
    if not rows:
        raise ValidationFailed("autodetect: the file has no rows to detect a schema from")
    width = max(len(r) for r in rows)
    if width > MAX_COLUMNS:
        raise ValidationFailed(f"autodetect: the file has {width} columns; the limit is {MAX_COLUMNS}")
    if header is None:
        header = _looks_like_header(rows, width)
    names_row = rows[0] if header else None
    data = rows[1:] if header else rows
    kinds = [_csv_kind([r[i] if i < len(r) else None for r in data]) for i in range(width)]
    names: list[str] = []
    for i, (_, _, prefix) in enumerate(kinds):
        raw = names_row[i] if names_row is not None and i < len(names_row) else None
        names.append(sanitize_name(raw) if raw else f"{prefix}_field_{i}")
    names = dedupe(names)
    return CsvGuess([Column(name, kind[0]) for name, kind in zip(names, kinds, strict=True)], header)


def _csv_kind(values: list[str | None]) -> tuple[ColumnType, pa.DataType, str]:
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return Scalar("string"), pa.string(), "string"
    array = pa.array(present, pa.string())
    for candidate in _CSV_CANDIDATES:
        if candidate[2] == "bool" and any(v.strip().lower() not in _BOOL_WORDS for v in present):
            continue
        if candidate[2] == "timestamp" and not all(_TIMESTAMP.match(v.strip()) for v in present):
            continue    # Arrow would take a bare date too; a column of dates is DATE
        _, bad = convert_strings(array, pa.field("x", candidate[1]))
        if not bad:
            return candidate
    return Scalar("string"), pa.string(), "string"


def _looks_like_header(rows: list[list[str | None]], width: int) -> bool:
    """Row 0 is a header when some column's data has a type row 0's value does not parse as, or, when every column
    is text, when row 0's values are distinct names that never appear again in their column."""
    first, data = rows[0], rows[1:]
    if not data or len(first) != width or any(v is None or v == "" for v in first):
        return False
    all_text = True
    for i in range(width):
        column = [r[i] if i < len(r) else None for r in data]
        kind = _csv_kind(column)
        if kind[2] != "string":
            all_text = False
            if _csv_kind([first[i]])[2] == "string":
                return True
    if not all_text:
        return False
    if len({v.lower() for v in first if v}) != width:
        return False
    return all(re.fullmatch(r"[A-Za-z_][\w .-]{0,127}", v or "") and v not in {r[i] for r in data if i < len(r)}
               for i, v in enumerate(first))


# -- NDJSON ------------------------------------------------------------------------------------------------------

# An inferred shape: "null", "bool", "int", "float", "string", "date", "timestamp", "time", "json",
# ("list", shape) or ("record", {name: shape}).
Shape = Any


def json_columns(rows: list[Any]) -> list[Column]:
    """Columns for sampled NDJSON ``rows`` (parsed values; non-objects are skipped here, refused when loaded)."""
    merged: dict[str, Shape] = {}
    seen = False
    for row in rows:
        if isinstance(row, dict):
            seen = True
            merged = _merge_record(merged, row)
    if not seen:
        raise ValidationFailed("autodetect: the file has no JSON objects to detect a schema from")
    if not merged:
        raise ValidationFailed("autodetect: the sampled JSON objects have no fields")
    if len(merged) > MAX_COLUMNS:
        raise ValidationFailed(f"autodetect: the rows have {len(merged)} fields; the limit is {MAX_COLUMNS}")
    return [_column(name, shape) for name, shape in merged.items()]


def _shape(value: Any, depth: int = 0) -> Shape:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        text = value.strip()
        if _DATE.match(text):
            return "date"
        if _TIMESTAMP.match(text):
            return "timestamp"
        if _TIME.match(text):
            return "time"
        return "string"
    if depth >= MAX_DEPTH:
        return "json"
    if isinstance(value, list):
        item: Shape = "null"
        for element in value:
            item = _merge(item, _shape(element, depth + 1))
        return ("list", item)
    if isinstance(value, dict):
        return ("record", _merge_record({}, value, depth + 1))
    return "json"


def _merge_record(fields: dict[str, Shape], row: dict[str, Any], depth: int = 0) -> dict[str, Shape]:
    merged = dict(fields)
    by_lower = {name.lower(): name for name in merged}
    for key, value in row.items():
        name = by_lower.get(str(key).lower(), str(key))    # names are case-insensitive: the first spelling wins
        by_lower[name.lower()] = name
        merged[name] = _merge(merged.get(name, "null"), _shape(value, depth))
    return merged


def _merge(a: Shape, b: Shape) -> Shape:  # noqa: PLR0911 - one answer per pair of shapes
    if a == "null":
        return b
    if b == "null" or a == b:
        return a
    if isinstance(a, str) and isinstance(b, str):
        if {a, b} == {"int", "float"}:
            return "float"
        if "json" in (a, b):
            return "json"
        if {a, b} == {"date", "timestamp"}:
            return "timestamp"
        return "string"
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "list":
            return ("list", _merge(a[1], b[1]))
        merged = dict(a[1])
        for name, shape in b[1].items():
            merged[name] = _merge(merged.get(name, "null"), shape)
        return ("record", merged)
    return "json"


def _column(name: str, shape: Shape) -> Column:
    check_name(name)
    if isinstance(shape, tuple) and shape[0] == "list":
        item = shape[1]
        if isinstance(item, tuple) and item[0] == "list":
            return Column(name, Scalar("json"))     # BigQuery has no array of arrays
        return Column(name, ListOf(_type(item, name)), nullable=False)
    return Column(name, _type(shape, name))


def _type(shape: Shape, path: str) -> ColumnType:
    if isinstance(shape, tuple):
        if shape[0] == "list":
            return Scalar("json")
        if not shape[1]:
            return Scalar("json")
        return Struct(tuple(_column(name, inner) for name, inner in shape[1].items()))
    return {
        "null": Scalar("string"), "bool": Scalar("bool"), "int": Scalar("int64"), "float": Scalar("float64"),
        "string": Scalar("string"), "date": Scalar("date"), "timestamp": Timestamp(), "time": Scalar("time"),
        "json": Scalar("json"),
    }[shape]


# -- names -------------------------------------------------------------------------------------------------------

def sanitize_name(raw: str) -> str:
    """A header cell as a column name: other characters become ``_``, and a leading digit gets a ``_``."""
    name = _BAD_NAME_CHARS.sub("_", raw.strip())[:MAX_NAME] or "_"
    return "_" + name if name[0].isdigit() else name


def dedupe(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 1
        while candidate.lower() in seen:
            candidate, n = f"{name}_{n}", n + 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME or "\x00" in name:
        raise ValidationFailed(f"autodetect: field name {name[:40]!r} must be 1 to {MAX_NAME} characters")
