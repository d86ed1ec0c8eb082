"""Arrow -> JSON-native values: the one place where query results become Python rows.

DESIGN.md keeps Arrow as the data currency, so rows exist only at the JSON edge (REST pages, ndjson exports, the
result grid). Conversion works column by column: ``to_pylist`` and Arrow compute do the bulk work, and only columns
whose type needs it get a Python post-processing pass.

Value rules (docs/api.md, "Queries and jobs"):

- null -> ``null``; bool, string -> themselves.
- Integers within ±2^53 (inclusive; every such value is an exact double) are numbers. Outside that range the
  *value* becomes a decimal string (``2**64-1`` -> ``"18446744073709551615"``); other values of the column stay
  numbers.
- Floats are numbers. JSON has no NaN or Infinity, so those become the strings ``"NaN"``, ``"Infinity"`` and
  ``"-Infinity"``: the same spelling BigQuery uses, and unlike ``null`` they stay distinguishable from SQL NULL.
  FLOAT32 values use their shortest round-tripping form (``0.1``, not ``0.10000000149011612``).
- Decimals -> strings (``"1.50"``, scale kept). Scale-0 decimals are integers that did not fit 64 bits in the
  engine's type system (DuckDB's HUGEINT, e.g. ``sum()`` of an integer column) and follow the integer rule.
- TIMESTAMP (tz-aware) -> ISO 8601 in UTC with an explicit offset, ``2024-01-01T10:00:00+00:00``, whatever zone
  the column carries (an instant has one UTC rendering; BigQuery does the same). DATETIME (naive) -> no offset,
  ``2024-01-01T10:00:00``. An all-zero fraction is dropped; otherwise the unit's digits are kept (``.000500``).
- DATE -> ``2024-01-01``; TIME -> ``10:00:00`` or ``01:02:03.000004``.
- Duration and interval -> ISO 8601 duration strings: ``P1DT2H3M4.5S``, ``PT0S``, ``-PT5S``. Intervals keep their
  calendar parts (``P1Y2M3DT0.000000004S``); a component whose sign differs from the others carries its own sign
  (``P1M-2D``), as PostgreSQL's ``iso_8601`` style does.
- Binary -> standard base64 (with padding).
- STRUCT -> object; LIST / LARGE_LIST / FIXED_SIZE_LIST / LIST_VIEW -> array; MAP -> object with stringified keys
  (strings as-is, other keys as their JSON text; on duplicate keys the last entry wins).
- Dictionary and run-end encoded columns are decoded. The ``arrow.json`` extension stays the JSON *text* (a
  string, as in BigQuery's REST API); ``arrow.uuid`` -> canonical UUID string; other extensions -> their storage.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import itertools
import json
import math
import re
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_EXACT_INT = 2**53

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}
_NANOS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_NANOS_PER_DAY = 86_400 * 10**9
_PLAIN_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ---------------------------------------------------------------------------------------------------------------
# Public API


def rows_from_table(table: pa.Table | pa.RecordBatch) -> list[list[Any]]:
    """Rows of JSON-native values, in column order (the ``rows`` of a result page)."""
    columns = [column_values(col) for col in table.columns]
    if not columns:
        return [[] for _ in range(table.num_rows)]
    return [list(row) for row in zip(*columns)]


def records_from_batch(batch: pa.RecordBatch | pa.Table) -> Iterator[dict[str, Any]]:
    """One ``{column: value}`` object per row, for ndjson. Duplicate column names get ``_1``, ``_2`` suffixes so no
    value is silently dropped."""
    names = unique_names(batch.schema.names)
    columns = [column_values(col) for col in batch.columns]
    if not columns:
        for _ in range(batch.num_rows):
            yield {}
        return
    for row in zip(*columns):
        yield dict(zip(names, row))


def column_values(values: pa.Array | pa.ChunkedArray) -> list[Any]:
    """JSON-native Python values of one column."""
    if isinstance(values, pa.ChunkedArray):
        out: list[Any] = []
        for chunk in values.chunks:
            out.extend(_convert(chunk))
        return out
    return _convert(values)


def json_text(value: Any) -> str:
    """Compact JSON text of an already-converted value (CSV cells of nested types, map keys)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def describe_columns(schema: pa.Schema) -> list[dict[str, str]]:
    """``[{"name", "type"}]`` with BigQuery-style type names (see ``type_name``)."""
    return [{"name": f.name, "type": type_name(f.type)} for f in schema]


def type_name(t: pa.DataType) -> str:
    """BigQuery-style name of an Arrow type.

    Signed and small unsigned integers are INT64 (every value fits); UINT64 stays visible because its values can
    exceed INT64. Naive timestamps are DATETIME, tz-aware ones TIMESTAMP. Decimals are NUMERIC(p, s) up to
    precision 38 and BIGNUMERIC(p, s) beyond. Durations and intervals are INTERVAL. The NULL type (``SELECT NULL``)
    is ``NULL``. Anything unrecognised falls back to Arrow's own name, upper-cased.
    """
    if isinstance(t, pa.BaseExtensionType):
        if t.extension_name == "arrow.json":
            return "JSON"
        if t.extension_name == "arrow.bool8":
            return "BOOL"
        if t.extension_name == "arrow.uuid":
            return "STRING"
        return type_name(t.storage_type)
    if pa.types.is_dictionary(t):
        return type_name(t.value_type)
    if pa.types.is_run_end_encoded(t):
        return type_name(t.value_type)
    if pa.types.is_null(t):
        return "NULL"
    if pa.types.is_boolean(t):
        return "BOOL"
    if pa.types.is_integer(t):
        return "UINT64" if t == pa.uint64() else "INT64"
    if pa.types.is_floating(t):
        return "FLOAT64"
    if pa.types.is_decimal(t) and t.scale == 0:
        return "INT64" if t.precision <= 18 else "INT128"
    if pa.types.is_decimal(t):
        base = "NUMERIC" if t.precision <= 38 else "BIGNUMERIC"
        return f"{base}({t.precision}, {t.scale})"
    if _is_string(t):
        return "STRING"
    if _is_binary(t):
        return "BYTES"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP" if t.tz else "DATETIME"
    if pa.types.is_time(t):
        return "TIME"
    if pa.types.is_duration(t) or pa.types.is_interval(t):
        return "INTERVAL"
    if pa.types.is_struct(t):
        inner = ", ".join(f"{_ident(f.name)} {type_name(f.type)}" for f in t)
        return f"STRUCT<{inner}>"
    if pa.types.is_map(t):
        return f"MAP<{type_name(t.key_type)}, {type_name(t.item_type)}>"
    if _is_list(t):
        return f"ARRAY<{type_name(t.value_type)}>"
    return str(t).upper()


def unique_names(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 0
        while candidate in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Type predicates


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_binary(t: pa.DataType) -> bool:
    return (
        pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary_view(t)
    )


def _is_list(t: pa.DataType) -> bool:
    return (
        pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t) or pa.types.is_large_list_view(t)
    )


def _ident(name: str) -> str:
    return name if _PLAIN_IDENT.fullmatch(name) else "`" + name.replace("`", "\\`") + "`"


# ---------------------------------------------------------------------------------------------------------------
# Column converters


def _convert(arr: pa.Array) -> list[Any]:
    t = arr.type
    if isinstance(t, pa.BaseExtensionType):
        return _extension(arr)
    if pa.types.is_dictionary(t):
        return _convert(arr.dictionary_decode())
    if pa.types.is_run_end_encoded(t):
        return _convert(pc.run_end_decode(arr))
    if pa.types.is_null(t):
        return [None] * len(arr)
    if pa.types.is_boolean(t) or _is_string(t):
        return arr.to_pylist()
    if pa.types.is_integer(t):
        return _integers(arr)
    if pa.types.is_floating(t):
        return _floats(arr)
    if pa.types.is_decimal(t) and t.scale == 0:
        return [None if v is None else _exact_int(int(v)) for v in arr.to_pylist()]
    if pa.types.is_decimal(t) or pa.types.is_date(t):
        return arr.cast(pa.string()).to_pylist()
    if pa.types.is_timestamp(t):
        return _timestamps(arr)
    if pa.types.is_time(t):
        return _strip_zero_fraction(arr.cast(pa.string())).to_pylist()
    if pa.types.is_duration(t):
        return _durations(arr)
    if _is_binary(t):
        return [None if v is None else base64.b64encode(v).decode("ascii") for v in arr.to_pylist()]
    if pa.types.is_struct(t):
        return _structs(arr)
    if pa.types.is_map(t):
        return _maps(arr)
    if _is_list(t):
        return _lists(arr)
    # Intervals, unions and anything newer: Python objects, then the generic per-value rules.
    return [_py_value(v) for v in arr.to_pylist()]


def _extension(arr: pa.ExtensionArray) -> list[Any]:
    name = arr.type.extension_name
    if name == "arrow.uuid":
        return [None if b is None else str(uuid.UUID(bytes=b)) for b in arr.storage.to_pylist()]
    if name == "arrow.bool8":
        return arr.to_pylist()
    # arrow.json keeps its text; unknown extensions are best shown as what they store.
    return _convert(arr.storage)


def _integers(arr: pa.Array) -> list[Any]:
    values = arr.to_pylist()
    if arr.type.bit_width < 64 or arr.null_count == len(arr):
        return values
    bounds = pc.min_max(arr)
    lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
    if -MAX_EXACT_INT <= lo and hi <= MAX_EXACT_INT:
        return values
    return [v if v is None or -MAX_EXACT_INT <= v <= MAX_EXACT_INT else str(v) for v in values]


def _exact_int(value: int) -> int | str:
    return value if -MAX_EXACT_INT <= value <= MAX_EXACT_INT else str(value)


def _floats(arr: pa.Array) -> list[Any]:
    values = arr.to_pylist()
    if arr.type.bit_width < 64:
        # numpy prints float32/float16 in their shortest round-tripping form; parsing that text gives the double
        # a reader expects (0.1 rather than 0.10000000149011612).
        texts = arr.fill_null(0).to_numpy(zero_copy_only=False).astype(str).tolist()
        values = [None if v is None else float(s) for v, s in zip(values, texts)]
    if pc.all(pc.is_finite(arr)).as_py() is not False:
        return values
    return [_float_value(v) for v in values]


def _float_value(v: float | None) -> float | str | None:
    if v is None or math.isfinite(v):
        return v
    return "NaN" if math.isnan(v) else _NON_FINITE[v]


def _timestamps(arr: pa.Array) -> list[Any]:
    t: pa.TimestampType = arr.type
    # Arrow's tz-aware -> string cast converts every value to local time (slow); the stored values already are
    # UTC instants, so reading them as naive and appending +00:00 is both correct and ~40x faster.
    naive = arr.view(pa.timestamp(t.unit)) if t.tz else arr
    text = pc.replace_substring(naive.cast(pa.string()), " ", "T", max_replacements=1)
    text = _strip_zero_fraction(text)
    if t.tz:
        text = pc.binary_join_element_wise(text, "+00:00", "")
    return text.to_pylist()


def _strip_zero_fraction(text: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(text, r"\.0+$", "")


def _durations(arr: pa.Array) -> list[Any]:
    factor = _NANOS_PER_UNIT[arr.type.unit]
    out: list[Any] = []
    for v in arr.cast(pa.int64()).to_pylist():
        if v is None:
            out.append(None)
        else:
            days, rest = _tdivmod(v * factor, _NANOS_PER_DAY)
            out.append(iso_duration(0, days, rest))
    return out


def _structs(arr: pa.StructArray) -> list[Any]:
    names = [f.name for f in arr.type]
    if not names:
        rows: list[Any] = [{} for _ in range(len(arr))]
    else:
        # flatten() applies the slice offset and the struct's own nulls to each child.
        children = [_convert(child) for child in arr.flatten()]
        rows = [dict(zip(names, vals)) for vals in zip(*children)]
    return _apply_nulls(arr, rows)


def _lists(arr: pa.Array) -> list[Any]:
    # Works for every list layout (list views included: casting those to lists drops values in Arrow 26).
    # list_flatten skips the values hidden behind null lists, so the lengths below walk it exactly.
    values = _convert(pc.list_flatten(arr))
    out: list[Any] = []
    pos = 0
    for n in pc.list_value_length(arr).to_pylist():
        if n is None:
            out.append(None)
        else:
            out.append(values[pos:pos + n])
            pos += n
    return out


def _maps(arr: pa.MapArray) -> list[Any]:
    # offsets honour the slice; keys/items are the whole children, so cut them to the visible window first.
    offsets = arr.offsets.to_pylist()
    start, stop = offsets[0], offsets[-1]
    keys = [k if isinstance(k, str) else json_text(k) for k in _convert(arr.keys.slice(start, stop - start))]
    items = _convert(arr.items.slice(start, stop - start))
    rows = [
        dict(zip(keys[a - start:b - start], items[a - start:b - start])) for a, b in itertools.pairwise(offsets)
    ]
    return _apply_nulls(arr, rows)


def _apply_nulls(arr: pa.Array, rows: list[Any]) -> list[Any]:
    if arr.null_count:
        for i in np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False)):
            rows[i] = None
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Scalars


def iso_duration(months: int, days: int, nanos: int) -> str:
    """ISO 8601 duration of a (months, days, nanoseconds) triple; see the module docstring for signs."""
    if not (months or days or nanos):
        return "PT0S"
    if months <= 0 and days <= 0 and nanos <= 0:
        return "-" + iso_duration(-months, -days, -nanos)
    years, months = _tdivmod(months, 12)
    text = "P" + "".join(f"{v}{unit}" for v, unit in ((years, "Y"), (months, "M"), (days, "D")) if v)
    if nanos:
        sign = "-" if nanos < 0 else ""
        seconds, frac = divmod(abs(nanos), 10**9)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        text += "T" + "".join(f"{sign}{v}{unit}" for v, unit in ((hours, "H"), (minutes, "M")) if v)
        if seconds or frac:
            fraction = f".{frac:09d}".rstrip("0") if frac else ""
            text += f"{sign}{seconds}{fraction}S"
    return text


def _tdivmod(a: int, b: int) -> tuple[int, int]:
    """divmod truncating toward zero, so both parts share the sign of ``a``."""
    q = abs(a) // b
    q = q if a >= 0 else -q
    return q, a - q * b


def _py_value(v: Any) -> Any:
    """Generic rules for values that arrive as Python objects (unions, intervals, exotic nesting)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if -MAX_EXACT_INT <= v <= MAX_EXACT_INT else str(v)
    if isinstance(v, float):
        return _float_value(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC)
        return v.isoformat()
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        days, rest = _tdivmod((v.days * 86_400 + v.seconds) * 10**9 + v.microseconds * 1000, _NANOS_PER_DAY)
        return iso_duration(0, days, rest)
    if isinstance(v, pa.MonthDayNano):
        return iso_duration(v.months, v.days, v.nanoseconds)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {k if isinstance(k, str) else json_text(_py_value(k)): _py_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_py_value(x) for x in v]
    return str(v)
