"""insertAll / NDJSON rows -> Arrow for a target schema, with per-row errors.

``json_rows_to_arrow`` gives BigQuery's ``insertErrors`` (reason ``invalid``, a message naming the field's path).
Field names match in any case, a null REPEATED field is an empty array, a map is a JSON object or BigQuery's REPEATED
RECORD of key/value; each value is read by ``json_values``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from bqlite_app.bigquery.json_values import BadValue, scalar_parser, shown
from bqlite_app.bigquery.schema_arrow import TYPE_KEY, is_list_type

RowError = tuple[int, str, str]
Parse = Callable[[Any, str, list[str]], Any]
_MISSING = object()    # a field the row does not name, told apart from one it gives as null


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
        problems.append(f"{path or 'row'}: expected a JSON object, got {shown(value)}")
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


def _parser(arrow: pa.DataType, metadata: Mapping[bytes, bytes] | None, nullable: bool,
            ignore_unknown: bool) -> Parse:
    """A parser for one field: checks nulls, then the value."""
    if pa.types.is_dictionary(arrow):
        arrow = arrow.value_type
    if is_list_type(arrow):
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
        except BadValue as bad:
            problems.append(f"{path}: {bad}")
            return None
    return parse


def _list_parser(item: Parse) -> Parse:
    def parse(value: Any, path: str, problems: list[str]) -> Any:
        if value is None:
            return []    # a null REPEATED field is an empty array in BigQuery
        if not isinstance(value, list):
            problems.append(f"{path}: expected an array for a repeated field, got {shown(value)}")
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
                raise BadValue(f"expected a JSON object for a RECORD, got {shown(value)}")
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
                raise BadValue(f"expected an object or an array of key/value records, got {shown(value)}")
            return [(key(k, f"{path}.key", problems), item(v, f"{path}.value", problems)) for k, v in pairs]
        return mapping
    scalar = scalar_parser(arrow, marked)
    return lambda value, path, problems: scalar(value)
