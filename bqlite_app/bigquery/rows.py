"""Rows in BigQuery's JSON shapes.

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
read back from ClickHouse as text), else ``schema.arrow_to_fields`` of the data.

``json_rows_to_arrow``: insertAll / NDJSON rows -> Arrow for a target schema, with per-row errors (BigQuery's
``insertErrors``: reason ``invalid``, a message naming the field). Accepts what BigQuery accepts: numbers as JSON
numbers or strings, BYTES as base64, TIMESTAMP as ``YYYY-MM-DD[ T]HH:MM:SS[.f][zone]`` or epoch seconds, REPEATED
null as empty, field names in any case. NUMERIC values with more fraction digits than the column keeps are rounded
half away from zero, as BigQuery's CAST does; too many integer digits is an error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import gc
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from bqlite_app.bigquery.schema import TYPE_KEY, arrow_to_fields

Cells = Callable[[pa.Array], list[Any]]
RowError = tuple[int, str, str]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US_PER = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}


# ---------------------------------------------------------------------------------------------- Arrow -> f/v rows

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
    return (pa.types.is_list(arrow) or pa.types.is_large_list(arrow) or pa.types.is_fixed_size_list(arrow)
            or pa.types.is_list_view(arrow) or pa.types.is_large_list_view(arrow) or pa.types.is_map(arrow))


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


# ---------------------------------------------------------------------------------------------- JSON rows -> Arrow

class _Bad(Exception):
    """One value that does not fit its field; the message names the field."""


Parse = Callable[[Any, str, list[str]], Any]


def json_rows_to_arrow(rows: Sequence[Any], schema: pa.Schema, *, ignore_unknown_values: bool = False,
                       ) -> tuple[pa.Table, list[RowError]]:
    """insertAll / NDJSON rows (one JSON object each) -> an Arrow table of ``schema`` holding the rows that convert,
    in order, and ``(row index, "invalid", message)`` for each problem of the others. Unknown fields are problems
    unless ``ignore_unknown_values`` (then they are dropped)."""
    parsers = [(field.name, _parser(field.type, field.metadata, field.nullable, ignore_unknown_values))
               for field in schema]
    lookup = _names([name for name, _ in parsers])
    good: list[list[Any]] = [[] for _ in parsers]
    errors: list[RowError] = []
    for index, row in enumerate(rows):
        problems: list[str] = []
        values = _struct_values(row, "", parsers, lookup, problems, ignore_unknown_values)
        if problems:
            errors.extend((index, "invalid", message) for message in problems)
            continue
        for column, value in zip(good, values, strict=True):
            column.append(value)
    arrays = [pa.array(column, type=field.type) for column, field in zip(good, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema), errors


def _names(names: list[str]) -> dict[str, int]:
    # BigQuery column names are case-insensitive, and so is insertAll's matching of JSON keys to them.
    return {name.lower(): index for index, name in enumerate(names)}


def _struct_values(value: Any, path: str, parsers: list[tuple[str, Parse]], lookup: dict[str, int],
                   problems: list[str], ignore_unknown: bool) -> list[Any]:
    values: list[Any] = [_MISSING] * len(parsers)
    if not isinstance(value, Mapping):
        problems.append(f"{path or 'row'}: expected a JSON object, got {_shown(value)}")
        return values
    for key, item in value.items():
        index = lookup.get(str(key).lower())
        where = f"{path}.{key}" if path else str(key)
        if index is None:
            if not ignore_unknown:
                problems.append(f"no such field: {where}.")
            continue
        if values[index] is not _MISSING:
            problems.append(f"{where}: field given twice (names are case-insensitive)")
            continue
        values[index] = item
    for index, (name, parse) in enumerate(parsers):
        item = values[index]
        values[index] = parse(None if item is _MISSING else item, f"{path}.{name}" if path else name, problems)
    return values


_MISSING = object()


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parser(arrow: pa.DataType, metadata: Mapping[bytes, bytes] | None, nullable: bool,
            ignore_unknown: bool) -> Parse:
    """A parser for one field: checks nulls, then the value."""
    if pa.types.is_dictionary(arrow):
        arrow = arrow.value_type
    if _is_list(arrow) and not pa.types.is_map(arrow):
        item = _parser(arrow.value_type, metadata, True, ignore_unknown)
        return _list_parser(item)
    value_parser = _value_parser(arrow, metadata, ignore_unknown)

    def parse(value: Any, path: str, problems: list[str]) -> Any:
        if value is None:
            if not nullable:
                problems.append(f"Missing required field: {path}.")
            return None
        try:
            return value_parser(value, path, problems)
        except _Bad as bad:
            problems.append(f"{path}: {bad}")
            return None
    return parse


def _list_parser(item: Parse) -> Parse:
    def parse(value: Any, path: str, problems: list[str]) -> Any:
        if value is None:
            return []    # a null REPEATED field is an empty array in BigQuery
        if not isinstance(value, list):
            problems.append(f"{path}: expected an array for a repeated field, got {_shown(value)}")
            return []
        out = []
        for index, element in enumerate(value):
            where = f"{path}[{index}]"
            if element is None:
                problems.append(f"{where}: an array cannot hold a null element")
                continue
            out.append(item(element, where, problems))
        return out
    return parse


def _value_parser(arrow: pa.DataType, metadata: Mapping[bytes, bytes] | None, ignore_unknown: bool,
                  ) -> Callable[[Any, str, list[str]], Any]:
    marked = (metadata or {}).get(TYPE_KEY, b"").decode()
    if pa.types.is_struct(arrow):
        fields = [arrow.field(i) for i in range(arrow.num_fields)]
        parsers = [(f.name, _parser(f.type, f.metadata, f.nullable, ignore_unknown)) for f in fields]
        lookup = _names([f.name for f in fields])

        def struct(value: Any, path: str, problems: list[str]) -> Any:
            if not isinstance(value, Mapping):
                raise _Bad(f"expected a JSON object for a RECORD, got {_shown(value)}")
            values = _struct_values(value, path, parsers, lookup, problems, ignore_unknown)
            return dict(zip([name for name, _ in parsers], values, strict=True))
        return struct
    if pa.types.is_map(arrow):
        key = _parser(arrow.key_type, None, False, ignore_unknown)
        item = _parser(arrow.item_type, None, True, ignore_unknown)

        def mapping(value: Any, path: str, problems: list[str]) -> Any:
            # a JSON object, or BigQuery's REPEATED RECORD of {"key", "value"}
            pairs = list(value.items()) if isinstance(value, Mapping) else None
            if isinstance(value, list) and all(isinstance(e, Mapping) for e in value):
                pairs = [(e.get("key"), e.get("value")) for e in value]
            if pairs is None:
                raise _Bad(f"expected an object or an array of key/value records, got {_shown(value)}")
            return [(key(k, f"{path}.key", problems), item(v, f"{path}.value", problems)) for k, v in pairs]
        return mapping
    scalar = _scalar_parser(arrow, marked)
    return lambda value, path, problems: scalar(value)


def _scalar_parser(arrow: pa.DataType, marked: str) -> Callable[[Any], Any]:
    if pa.types.is_boolean(arrow):
        return _bool
    if pa.types.is_integer(arrow):
        info = _int_range(arrow)
        return lambda value: _integer(value, *info)
    if pa.types.is_floating(arrow):
        return _float
    if pa.types.is_decimal(arrow):
        return lambda value: _decimal(value, arrow.precision, arrow.scale)
    if pa.types.is_timestamp(arrow):
        return _timestamp if arrow.tz is not None else _datetime
    if pa.types.is_date(arrow):
        return _date
    if pa.types.is_time(arrow):
        return _time
    if pa.types.is_duration(arrow):
        return _interval
    if pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow) or pa.types.is_fixed_size_binary(arrow):
        return _bytes
    if marked == "JSON":
        return _json
    if marked == "GEOGRAPHY":
        return _geography
    return _string


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _Bad(f"cannot convert {_shown(value)} to BOOLEAN")


def _int_range(arrow: pa.DataType) -> tuple[int, int]:
    bits = arrow.bit_width
    if pa.types.is_unsigned_integer(arrow):
        return 0, 2 ** bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


_INT_TEXT = re.compile(r"[+-]?\d{1,40}")


def _integer(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise _Bad(f"cannot convert {_shown(value)} to INTEGER")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise _Bad(f"cannot convert {_shown(value)} to INTEGER")
    if not low <= number <= high:
        raise _Bad(f"{number} is out of range for this INTEGER column ({low}..{high})")
    return number


_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity)|nan", re.IGNORECASE)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Bad(f"cannot convert {_shown(value)} to FLOAT")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
        return float(value.strip())
    raise _Bad(f"cannot convert {_shown(value)} to FLOAT")


_DECIMAL_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,4})?")


def _decimal(value: Any, precision: int, scale: int) -> decimal.Decimal:
    if isinstance(value, bool):
        raise _Bad(f"cannot convert {_shown(value)} to NUMERIC")
    if isinstance(value, int):
        number = decimal.Decimal(value)
    elif isinstance(value, float) and math.isfinite(value):
        number = decimal.Decimal(repr(value))
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        number = decimal.Decimal(value.strip())
    else:
        raise _Bad(f"cannot convert {_shown(value)} to NUMERIC")
    context = decimal.Context(prec=precision + 40)
    rounded = number.quantize(decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_HALF_UP, context=context)
    if rounded.adjusted() >= precision - scale:
        raise _Bad(f"{_shown(value)} is out of range: at most {precision - scale} digits before the point")
    return rounded


_TIMESTAMP_TEXT = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,12}))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{1,2}(?::?\d{2})?)?")


def _parse_datetime(text: str, *, zoned: bool) -> dt.datetime:
    match = _TIMESTAMP_TEXT.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    value = dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micros)
    if zone is None:
        return value.replace(tzinfo=dt.UTC) if zoned else value
    if not zoned:
        raise ValueError("a DATETIME has no time zone")
    if zone.upper() in ("Z", "UTC"):
        return value.replace(tzinfo=dt.UTC)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    return value.replace(tzinfo=dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes)))


def _exact_micros(value: dt.datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_MIN_MICROS = _exact_micros(dt.datetime(1, 1, 1, tzinfo=dt.UTC))
_MAX_MICROS = _exact_micros(dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC))


def _timestamp(value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad(f"cannot convert {_shown(value)} to TIMESTAMP")
    if isinstance(value, int | float) and math.isfinite(value):
        micros = round(value * 1_000_000)          # epoch seconds, as BigQuery takes a JSON number
    elif isinstance(value, str):
        try:
            micros = _exact_micros(_parse_datetime(value, zoned=True))
        except ValueError:
            raise _Bad(f"cannot convert {_shown(value)} to TIMESTAMP (expected YYYY-MM-DD HH:MM:SS[.ffffff]"
                       "[zone] or epoch seconds)") from None
    else:
        raise _Bad(f"cannot convert {_shown(value)} to TIMESTAMP")
    if not _MIN_MICROS <= micros <= _MAX_MICROS:
        raise _Bad(f"{_shown(value)} is outside 0001-01-01 .. 9999-12-31")
    return micros


def _datetime(value: Any) -> int:
    if not isinstance(value, str):
        raise _Bad(f"cannot convert {_shown(value)} to DATETIME")
    try:
        parsed = _parse_datetime(value, zoned=False)
    except ValueError:
        raise _Bad(f"cannot convert {_shown(value)} to DATETIME (expected YYYY-MM-DD[T]HH:MM:SS[.ffffff], no "
                   "zone)") from None
    return _exact_micros(parsed.replace(tzinfo=dt.UTC))


_DATE_TEXT = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def _date(value: Any) -> dt.date:
    match = _DATE_TEXT.fullmatch(value.strip()) if isinstance(value, str) else None
    try:
        if match is None:
            raise ValueError(value)
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise _Bad(f"cannot convert {_shown(value)} to DATE (expected YYYY-MM-DD)") from None


_TIME_TEXT = re.compile(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,12}))?)?")


def _time(value: Any) -> dt.time:
    match = _TIME_TEXT.fullmatch(value.strip()) if isinstance(value, str) else None
    try:
        if match is None:
            raise ValueError(value)
        hour, minute, second, fraction = match.groups()
        return dt.time(int(hour), int(minute), int(second or 0), int((fraction or "0")[:6].ljust(6, "0")))
    except ValueError:
        raise _Bad(f"cannot convert {_shown(value)} to TIME (expected HH:MM:SS[.ffffff])") from None


_INTERVAL_TEXT = re.compile(r"(-?)(\d+)-(\d+) (-?\d+) (-?)(\d+):(\d+):(\d+)(?:\.(\d{1,9}))?")


def _interval(value: Any) -> int:
    """An INTERVAL in BigQuery's canonical form, as microseconds: months cannot be stored in a duration."""
    match = _INTERVAL_TEXT.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise _Bad(f"cannot convert {_shown(value)} to INTERVAL (expected Y-M D H:M:S[.F])")
    _, years, months, days, sign, hours, minutes, seconds, fraction = match.groups()
    if int(years) or int(months):
        raise _Bad(f"{_shown(value)}: intervals with years or months cannot be stored here")
    micros = ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1_000_000
    micros += int((fraction or "0")[:6].ljust(6, "0"))
    return int(days) * 86_400_000_000 + (-micros if sign else micros)


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _Bad(f"cannot convert {_shown(value)} to BYTES (expected base64 text)")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    raise _Bad(f"cannot convert {_shown(value)} to STRING")


def _json(value: Any) -> str:
    """A JSON column takes any JSON value; a string is JSON text (the client sends ``json.dumps`` of the value)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            raise _Bad(f"{_shown(value)} is not valid JSON text") from None
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _geography(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"cannot convert {_shown(value)} to GEOGRAPHY (expected WKT text)")
    return value
