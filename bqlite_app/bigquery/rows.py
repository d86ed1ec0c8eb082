"""Arrow -> rows in BigQuery's JSON shape.

``arrow_to_rows``: Arrow -> the ``rows`` of tabledata.list / getQueryResults (``{"f": [{"v": ...}]}``), every value
as google-cloud-bigquery's ``_helpers.CellDataParser`` reads it:

- INTEGER, FLOAT, NUMERIC, BIGNUMERIC, BOOLEAN: decimal strings ("true"/"false"; NaN, Infinity, -Infinity; decimals
  exact, without trailing zeros);
- TIMESTAMP: int64 microseconds since the epoch (``formatOptions.useInt64Timestamp``, which the client always asks
  for) or, without it, float seconds; DATETIME ``YYYY-MM-DDTHH:MM:SS[.ffffff]``; DATE ``YYYY-MM-DD``; TIME
  ``HH:MM:SS[.ffffff]`` (the client accepts exactly those two lengths); INTERVAL ``Y-M D H:M:S[.F]``;
- BYTES base64; STRING, JSON, GEOGRAPHY text;
- RECORD a nested ``{"f": [...]}``; REPEATED a list of ``{"v": ...}``, ``[]`` for a null list (the client iterates
  it); a map a REPEATED RECORD of key/value.

It is the hot path of getQueryResults and tabledata.list, so each column is converted whole with pyarrow.compute
(cast to string, regex clean-up) and only the final nesting into dicts is Python. The values follow the BigQuery
``fields`` when given (a table's declared schema, e.g. DATETIME stored by ClickHouse as a UTC DateTime64, or TIME
read back from ClickHouse as text), else ``schema_arrow.arrow_to_fields`` of the data.

The other way, insertAll / NDJSON rows -> Arrow, is ``json_rows``.
"""

from __future__ import annotations

import base64
import decimal
import gc
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from bqlite_app.bigquery.schema_arrow import arrow_to_fields, is_list_type

Cells = Callable[[pa.Array], list[Any]]

_US_PER = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}


def arrow_to_rows(data: pa.Table | pa.RecordBatch, *, int64_timestamps: bool = True,
                  fields: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``data`` as BigQuery ``rows``. ``fields``: the BigQuery schema to render by, one field per column in order
    (default: derived from the Arrow schema)."""
    schema_fields = list(fields) if fields is not None else arrow_to_fields(data.schema)
    if len(schema_fields) != data.num_columns:
        raise ValueError(f"{len(schema_fields)} fields for {data.num_columns} columns")
    if not schema_fields:
        return [{"f": []} for _ in range(data.num_rows)]
    # A page is millions of small dicts that are all kept: the cyclic collector would walk them again and again
    # while they are built (it took half the time), and none of them can form a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        columns: list[list[dict[str, Any]]] = []
        for index, field in enumerate(schema_fields):
            column = data.column(index)
            cells = _cells(field, column.type, int64_timestamps)
            chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
            columns.append([{"v": value} for chunk in chunks for value in cells(chunk)])
        return [{"f": list(row)} for row in zip(*columns, strict=True)]
    finally:
        if collecting:
            gc.enable()


def _cells(field: Mapping[str, Any], arrow: pa.DataType, int64_timestamps: bool) -> Cells:
    """A converter from an array of ``arrow`` to the cell values of ``field`` (mode included)."""
    if isinstance(arrow, pa.ExtensionType):
        inner = _cells(field, arrow.storage_type, int64_timestamps)
        return lambda array: inner(array.storage)
    if pa.types.is_dictionary(arrow):
        return _decoded(_cells(field, arrow.value_type, int64_timestamps))
    if pa.types.is_null(arrow):
        empty: Any = [] if field.get("mode") == "REPEATED" else None
        return lambda array: [empty] * len(array)
    item_field = {**field, "mode": "NULLABLE"}
    if field.get("mode") == "REPEATED" and _is_list(arrow):
        return _repeated(_cells(item_field, _item_type(arrow), int64_timestamps), arrow)
    if str(field.get("type", "")).upper() in ("RECORD", "STRUCT"):
        sub = field.get("fields") or []
        if pa.types.is_struct(arrow):
            children = [_cells(f, arrow.field(i).type, int64_timestamps) for i, f in enumerate(sub)]
            return _record(children)
        if _is_list(arrow) and len(sub) == 1:    # ARRAY<ARRAY<T>> wrapped in a one-field RECORD
            return _wrapped(_cells(sub[0], arrow, int64_timestamps))
    return _scalar(str(field.get("type", "STRING")).upper(), arrow, int64_timestamps)


def _is_list(arrow: pa.DataType) -> bool:
    """A list, or a map (its entries are a REPEATED RECORD of key/value)."""
    return is_list_type(arrow) or pa.types.is_map(arrow)


def _item_type(arrow: pa.DataType) -> pa.DataType:
    """A list's item type; a map's items are its ``struct<key, value>`` entries."""
    if pa.types.is_map(arrow):
        return pa.struct([arrow.key_field, arrow.item_field])
    return arrow.value_type


def _decoded(inner: Cells) -> Cells:
    """Dictionary arrays (ClickHouse LowCardinality/Enum): convert the dictionary once, then pick by index."""
    def convert(array: pa.Array) -> list[Any]:
        values = inner(array.dictionary)
        return [None if i is None else values[i] for i in array.indices.to_pylist()]
    return convert


def _repeated(item: Cells, arrow: pa.DataType) -> Cells:
    def convert(array: pa.Array) -> list[Any]:
        if pa.types.is_list_view(arrow) or pa.types.is_large_list_view(arrow):
            array = array.cast(pa.large_list(arrow.value_type))
        if pa.types.is_fixed_size_list(arrow):
            size = arrow.list_size
            items = item(array.flatten())
            valid = array.is_valid().to_pylist() if array.null_count else None
            out, at = [], 0
            for index in range(len(array)):
                if valid is not None and not valid[index]:
                    out.append([])
                    continue
                out.append([{"v": v} for v in items[at:at + size]])
                at += size
            return out
        offsets = array.offsets.to_pylist()
        start = offsets[0]
        items = item(array.values.slice(start, offsets[-1] - start))
        # Null lists have equal offsets, so they come out as [] on their own.
        return [[{"v": v} for v in items[a - start:b - start]] for a, b in zip(offsets, offsets[1:], strict=False)]
    return convert


def _record(children: list[Cells]) -> Cells:
    def convert(array: pa.Array) -> list[Any]:
        parts = [child(part) for child, part in zip(children, array.flatten(), strict=True)]
        rows: list[Any] = [{"f": [{"v": v} for v in row]} for row in zip(*parts, strict=True)] if parts else \
            [{"f": []} for _ in range(len(array))]
        if array.null_count:
            rows = [row if ok else None for row, ok in zip(rows, array.is_valid().to_pylist(), strict=True)]
        return rows
    return convert


def _wrapped(inner: Cells) -> Cells:
    def convert(array: pa.Array) -> list[Any]:
        return [{"f": [{"v": value}]} for value in inner(array)]
    return convert


def _scalar(kind: str, arrow: pa.DataType, int64_timestamps: bool) -> Cells:
    if kind in ("INTEGER", "INT64"):
        if pa.types.is_boolean(arrow):
            return lambda a: _strings(a.cast(pa.int8()))
        if pa.types.is_timestamp(arrow):
            return lambda a: _strings(_micros(a))
        return _strings
    if kind in ("FLOAT", "FLOAT64"):
        return _floats if pa.types.is_floating(arrow) else _strings
    if kind in ("NUMERIC", "BIGNUMERIC", "DECIMAL", "BIGDECIMAL"):
        return _decimals if pa.types.is_decimal(arrow) else _strings
    if kind in ("BOOLEAN", "BOOL"):
        return _strings if pa.types.is_boolean(arrow) else (lambda a: _strings(a.cast(pa.bool_())))
    if kind == "BYTES":
        return _base64
    if kind == "TIMESTAMP" and (pa.types.is_timestamp(arrow) or pa.types.is_date(arrow)):
        return _timestamps if int64_timestamps else _timestamp_seconds
    if kind == "DATETIME" and (pa.types.is_timestamp(arrow) or pa.types.is_date(arrow)):
        return _datetimes
    if kind == "DATE" and pa.types.is_timestamp(arrow):
        return lambda a: _strings(pc.cast(_micros(a), pa.timestamp("us")).cast(pa.date32()))
    if kind == "TIME":
        if pa.types.is_time(arrow):
            return _times
        if _is_text(arrow):
            return _time_texts
    if kind == "INTERVAL":
        return _intervals
    if _is_text(arrow):
        return _texts
    if pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow) or pa.types.is_fixed_size_binary(arrow) \
            or pa.types.is_binary_view(arrow):
        return lambda a: [None if v is None else v.decode("utf-8", "replace") for v in a.to_pylist()]
    return _strings


def _is_text(arrow: pa.DataType) -> bool:
    return pa.types.is_string(arrow) or pa.types.is_large_string(arrow) or pa.types.is_string_view(arrow)


def _texts(array: pa.Array) -> list[Any]:
    return array.to_pylist()


def _strings(array: pa.Array) -> list[Any]:
    """Arrow's own value -> text cast; anything it cannot cast falls back to Python's ``str``."""
    try:
        return array.cast(pa.string()).to_pylist()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return [None if v is None else str(v) for v in array.to_pylist()]


def _floats(array: pa.Array) -> list[Any]:
    text = array.cast(pa.string())
    if array.null_count < len(array) and not pc.all(pc.is_finite(array)).as_py():
        # Arrow writes nan/inf; BigQuery (and the clients' parsers in other languages) use these spellings.
        text = pc.replace_substring_regex(text, r"^nan$", "NaN")
        text = pc.replace_substring_regex(text, r"^inf$", "Infinity")
        text = pc.replace_substring_regex(text, r"^-inf$", "-Infinity")
    return text.to_pylist()


def _decimals(array: pa.Array) -> list[Any]:
    text = array.cast(pa.string())
    if array.type.scale > 0:
        # Arrow writes the full scale (1.500000000) and switches to exponents below 1e-6 (1E-9); BigQuery writes
        # plain digits without trailing zeros.
        if pc.any(pc.match_substring(text, "E")).as_py():
            text = pa.array([None if v is None else format(decimal.Decimal(v), "f") for v in text.to_pylist()],
                            pa.string())
        # With a scale every value has a point (the exponent ones too, once rewritten), so trimming is safe.
        text = pc.ascii_rtrim(pc.ascii_rtrim(text, characters="0"), characters=".")
    return text.to_pylist()


def _base64(array: pa.Array) -> list[Any]:
    encode = base64.b64encode
    if _is_text(array.type):
        return [None if v is None else encode(v.encode()).decode("ascii") for v in array.to_pylist()]
    return [None if v is None else encode(v).decode("ascii") for v in array.to_pylist()]


def _micros(array: pa.Array) -> pa.Array:
    """int64 microseconds since the epoch (UTC ticks), floored like BigQuery truncates finer precision."""
    if pa.types.is_date(array.type):
        return pc.multiply(array.cast(pa.date32()).cast(pa.int32()).cast(pa.int64()), 86_400_000_000)
    unit = array.type.unit
    ticks = array.cast(pa.int64())
    if unit == "ns":
        # floor division by 1000 with truncating integer division: shift negatives down first
        ticks = pc.divide(pc.subtract(ticks, pc.if_else(pc.less(ticks, 0), 999, 0)), 1000)
    elif unit != "us":
        ticks = pc.multiply(ticks, _US_PER[unit])
    return ticks


def _timestamps(array: pa.Array) -> list[Any]:
    return _micros(array).cast(pa.string()).to_pylist()


def _timestamp_seconds(array: pa.Array) -> list[Any]:
    return pc.divide(_micros(array).cast(pa.float64()), 1e6).cast(pa.string()).to_pylist()


def _datetimes(array: pa.Array) -> list[Any]:
    # A zoned timestamp shows its UTC wall clock: ClickHouse keeps DATETIME as UTC DateTime64 (the DDL notes).
    text = _micros(array).cast(pa.timestamp("us")).cast(pa.string())
    text = pc.replace_substring(text, " ", "T", max_replacements=1)
    return pc.replace_substring_regex(text, r"\.000000$", "").to_pylist()


def _times(array: pa.Array) -> list[Any]:
    if array.type != pa.time64("us"):
        array = array.cast(pa.time64("us"), safe=False)   # ns -> us truncates (times are never negative)
    return pc.replace_substring_regex(array.cast(pa.string()), r"\.000000$", "").to_pylist()


def _time_texts(array: pa.Array) -> list[Any]:
    """TIME read back as text (ClickHouse's Time64 arrives as ``HHH:MM:SS.ffffff``)."""
    text = pc.replace_substring_regex(array, r"^0(\d\d:)", r"\1")
    return pc.replace_substring_regex(text, r"\.000000$", "").to_pylist()


def _intervals(array: pa.Array) -> list[Any]:
    if pa.types.is_interval(array.type):     # month_day_nano (DuckDB INTERVAL)
        return [None if v is None else _interval_text(v.months, v.days, v.nanoseconds // 1000)
                for v in array.to_pylist()]
    if pa.types.is_duration(array.type):
        micros = _micros(array.cast(pa.int64()).cast(pa.timestamp(array.type.unit))).to_pylist()
    elif pa.types.is_integer(array.type):    # ClickHouse keeps intervals as Int64 microseconds
        micros = array.cast(pa.int64()).to_pylist()
    else:
        return _strings(array)
    return [None if v is None else _interval_text(0, 0, v) for v in micros]


def _interval_text(months: int, days: int, micros: int) -> str:
    """BigQuery's canonical interval: ``[-]Y-M [-]D [-]H:M:S[.F]``."""
    calendar_sign = "-" if months < 0 else ""
    years, month = divmod(abs(months), 12)
    time_sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    text = f"{calendar_sign}{years}-{month} {days} {time_sign}{hours}:{minute}:{second}"
    return f"{text}.{fraction:06d}" if fraction else text
