"""Stored Arrow -> the Arrow that BigQuery's Storage Read API sends, so ``to_arrow()`` over gRPC gives the same
table the REST path gives (google-cloud-bigquery builds that one from the BigQuery schema with
``_pandas_helpers.bq_to_arrow_schema``).

The mapping is ``bigquery.schema_arrow.arrow_to_fields``' (what the REST path reports), each BigQuery type then sent as
BigQuery sends it: every integer is INT64 (int64), every float FLOAT64 (float64), decimals are NUMERIC
(decimal128(38, 9)) when they fit and BIGNUMERIC (decimal256(76, 38)) otherwise, except decimal128(38, 0), DuckDB's
HUGEINT (``SUM`` of integers), which is INT64; a zoned timestamp is TIMESTAMP (timestamp[us, UTC]), a naive one
DATETIME (timestamp[us]), times are TIME (time64[us]), dates DATE (date32), lists REPEATED (list<item>; a NULL list
is empty, a list of lists a list of RECORD<item>), maps REPEATED RECORD<key, value> and structs RECORD. What BigQuery
has no type for is sent as its text (STRING). Fields are nullable except REPEATED ones, as the client builds them.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from bqlite_app.bigquery.schema_arrow import TYPE_KEY
from bqlite_app.errors import ValidationFailed

NUMERIC = pa.decimal128(38, 9)
BIGNUMERIC = pa.decimal256(76, 38)
TIMESTAMP = pa.timestamp("us", tz="UTC")
DATETIME = pa.timestamp("us")
TIME = pa.time64("us")
# The extension names google-cloud-bigquery puts on these fields (BQ_FIELD_TYPE_TO_ARROW_FIELD_METADATA).
_DATETIME_METADATA = {b"ARROW:extension:name": b"google:sqlType:datetime"}
_JSON_METADATA = {b"ARROW:extension:name": b"google:sqlType:json"}
_GEOGRAPHY_METADATA = {b"ARROW:extension:name": b"google:sqlType:geography",
                       b"ARROW:extension:metadata": b'{"encoding": "WKT"}'}


def bigquery_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a stored result or table is sent with."""
    return pa.schema([bigquery_field(field) for field in schema])


def bigquery_field(field: pa.Field) -> pa.Field:
    target = bigquery_type(field.type)
    repeated = pa.types.is_list(target)
    metadata = None
    marked = (field.metadata or {}).get(TYPE_KEY)  # what Arrow cannot tell apart from a string
    if target == DATETIME:
        metadata = _DATETIME_METADATA
    elif target == pa.string() and (marked == b"JSON" or _is_json(field)):
        metadata = _JSON_METADATA
    elif target == pa.string() and marked == b"GEOGRAPHY":
        metadata = _GEOGRAPHY_METADATA
    return pa.field(field.name, target, nullable=not repeated, metadata=metadata)


def bigquery_type(t: pa.DataType) -> pa.DataType:
    if isinstance(t, pa.ExtensionType):
        return bigquery_type(t.storage_type)
    if pa.types.is_dictionary(t) or pa.types.is_run_end_encoded(t):
        return bigquery_type(t.value_type)
    if pa.types.is_boolean(t):
        return pa.bool_()
    if pa.types.is_integer(t) or pa.types.is_null(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    if pa.types.is_decimal(t):
        if t.precision == 38 and t.scale == 0:
            return pa.int64()
        fits_numeric = t.scale <= 9 and t.precision - t.scale <= 29
        return NUMERIC if fits_numeric else BIGNUMERIC
    if pa.types.is_timestamp(t):
        return DATETIME if t.tz is None else TIMESTAMP
    if pa.types.is_date(t):
        return pa.date32()
    if pa.types.is_time(t):
        return TIME
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
            or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_map(t):
        entry = pa.struct([pa.field("key", bigquery_type(t.key_type)),
                           pa.field("value", bigquery_type(t.item_type))])
        return pa.list_(entry)
    if _is_any_list(t):
        item = bigquery_type(t.value_type)
        if pa.types.is_list(item):   # BigQuery has no ARRAY<ARRAY>: the inner list is a RECORD's field ``item``
            item = pa.struct([pa.field("item", item, nullable=False)])
        return pa.list_(item)
    if pa.types.is_struct(t):
        return pa.struct([bigquery_field(child) for child in t])
    return pa.string()   # strings, and what BigQuery has no type for (durations, intervals, unions) as text


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s types (from ``bigquery_schema`` of the batch's schema); zero-copy where the
    types already agree."""
    columns = [convert(column, field.type) for column, field in zip(batch.columns, schema)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def convert(array: pa.Array, target: pa.DataType) -> pa.Array:
    """One column to its BigQuery Arrow type, following nesting."""
    source = array.type
    if source == target and not _has_list(target):
        return array
    if isinstance(source, pa.ExtensionType):
        return convert(array.storage, target)
    if pa.types.is_dictionary(source):
        return convert(array.dictionary_decode(), target)
    if pa.types.is_run_end_encoded(source):
        return convert(pc.run_end_decode(array), target)
    if pa.types.is_map(source):
        # The same buffers seen as list<struct<key, value>>, whose flatten() applies slicing and nulls.
        array = pa.Array.from_buffers(pa.list_(array.values.type), len(array), array.buffers()[:2],
                                      null_count=array.null_count, offset=array.offset, children=[array.values])
        entries = array.flatten()
        entry_type = target.value_type
        values = pa.StructArray.from_arrays(
            [convert(entries.field(0), entry_type.field(0).type), convert(entries.field(1), entry_type.field(1).type)],
            fields=list(entry_type))
        return pa.ListArray.from_arrays(_offsets(array), values, type=target)
    if pa.types.is_list(target):
        if not pa.types.is_list(source) and not pa.types.is_large_list(source):
            array = array.cast(pa.list_(source.value_type))  # fixed-size and view lists
        values = array.flatten()
        if pa.types.is_list(bigquery_type(values.type)):   # a list of lists (or of maps)
            inner = target.value_type
            values = pa.StructArray.from_arrays([convert(values, inner.field(0).type)], fields=list(inner))
        else:
            values = convert(values, target.value_type)
        return pa.ListArray.from_arrays(_offsets(array), values, type=target)
    if pa.types.is_struct(target):
        children = [convert(child, field.type) for child, field in zip(array.flatten(), target)]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=_nulls(array))
    return _cast_scalar(array, target)


def _cast_scalar(array: pa.Array, target: pa.DataType) -> pa.Array:
    source = array.type
    if pa.types.is_timestamp(source) or pa.types.is_time(source):
        # Nanoseconds become microseconds as in BigQuery (truncated, not refused).
        return pc.cast(array, target, safe=False)
    if pa.types.is_string(target) and not _is_text(source):
        return _as_text(array)
    try:
        return pc.cast(array, target)
    except pa.ArrowInvalid as exc:   # a HUGEINT beyond INT64, a decimal beyond BIGNUMERIC
        raise ValidationFailed(f"a value does not fit BigQuery's type for {source} ({target}): {exc}") from None


def _as_text(array: pa.Array) -> pa.Array:
    try:
        return pc.cast(array, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        # Types Arrow cannot cast to text (durations, intervals, unions): Python's own rendering, rare and small.
        render: Callable[[object], str | None] = lambda v: None if v is None else str(v)  # noqa: E731
        return pa.array([render(v) for v in array.to_pylist()], type=pa.string())


def _offsets(array: pa.Array) -> pa.Array:
    """Fresh offsets from 0 for ``array.flatten()``. A NULL list becomes an empty one: BigQuery has no NULL arrays
    (the REST path gives [] too)."""
    lengths = pc.fill_null(pc.list_value_length(array), 0).cast(pa.int32())
    return pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(lengths)])


def _is_any_list(t: pa.DataType) -> bool:
    return (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
            or pa.types.is_list_view(t) or pa.types.is_large_list_view(t))


def _has_list(t: pa.DataType) -> bool:
    """Lists are always rebuilt, even of the right type: a NULL list must become an empty one."""
    if pa.types.is_list(t):
        return True
    return pa.types.is_struct(t) and any(_has_list(field.type) for field in t)


def _nulls(array: pa.Array) -> pa.Array | None:
    return array.is_null() if array.null_count else None


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_json(field: pa.Field) -> bool:
    t = field.type
    name = getattr(t, "extension_name", "") if isinstance(t, pa.ExtensionType) else ""
    metadata = field.metadata or {}
    return name == "arrow.json" or metadata.get(b"ARROW:extension:name") == b"arrow.json"
