"""The fast decode path: ClickHouse's native ``Protobuf`` input format (embedded chdb) turns a body into Arrow.

chdb decodes ~3-6 M messages/s against ~0.4 M/s for upb + Arrow building in Python (DESIGN.md, "Runtime facts"), so
ingest tries this first and falls back to ``ingest.decode_batches`` on ``None`` (a shape this path cannot reproduce
exactly) or ``NativeDecodeError`` (chdb rejected the body; the Python path then names the bad message and offset).

The batches equal the Python path's: same columns (``translate.columns_for``), same Arrow types
(``translate.arrow_schema``), same values. To get there, every field is read into a ClickHouse type the format
accepts and converted in the SELECT:
- enums are read as their Int32 number and labelled with ``transform``, so unknown numbers survive as their decimal
  string (an Enum/String column would reject them);
- Timestamp/Duration are read as ``Tuple(seconds, nanos)`` and become Int64 microseconds (Timestamp floors, Duration
  truncates toward zero, as the Python path does), then Arrow timestamp/duration;
- wrappers are ``Nullable(Tuple(value))`` unwrapped; messages are ``Nullable(Tuple)``; repeated is ``Array``;
- bytes travel as hex (the engine's client shows a non-UTF-8 String as hex digits, which would be ambiguous) and are
  unhexed in Arrow;
- maps come back sorted by key. The Python path's order is upb's hash order, which no SQL can reproduce, so the two
  paths agree on the key -> value set, not on the order of entries.
Rows the Python path would reject fail the query through ``throwIf`` (invalid UTF-8, Timestamp/Duration out of
range) or are rejected as ambiguous (two members of one oneof, a map key twice: protobuf keeps the last, ClickHouse
both), so the caller re-runs the Python path, which reports them or resolves them exactly.

Not native (``None``): jsonl, FileDescriptorSet uploads (no .proto text for chdb), JSON columns (Struct/Value/Any,
recursion past the depth cap, empty messages), proto2 ``required``, groups, repeated closed enums (upb moves unknown
values behind the known ones), nested root messages, field names equal but for case, ClickHouse in server mode.

Known differences on malformed input (ClickHouse is laxer than upb): a numeric field that arrives with another wire
type is read as packed values or skipped instead of failing, and a singular message field split over several
occurrences is not merged. Canonical encoders never write either.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from bqlite_app.schemas import translate
from bqlite_app.schemas.compiler import CompiledSchema
from engines.errors import EngineQueryError, EngineUnavailable, QueryTimeout
from engines.types import Column, ColumnType, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp

_FORMATS = {"delimited": "Protobuf", "single": "ProtobufSingle"}
_ROOT_FILE = "__bqlite_root__.proto"
_GLOB = re.compile(r"[*?{}]")          # file() expands these in paths
# The Python path's limit for one message (``_frames.MAX_MESSAGE_BYTES``); checked here for ``single`` bodies.
_MAX_SINGLE_BYTES = 64 << 20
_TS_MIN, _TS_MAX, _DUR_MAX, _NANOS_MAX = -62_135_596_800, 253_402_300_799, 315_576_000_000, 999_999_999
_CH_SCALARS = {
    "bool": "Bool", "int32": "Int32", "int64": "Int64", "uint32": "UInt32", "uint64": "UInt64",
    "float32": "Float32", "float64": "Float64", "string": "String", "binary": "String",
}
_T = FieldDescriptor
_REJECTED = "bqlite: a value the Python path rejects"


class NativeDecodeError(Exception):
    """chdb rejected the body (or could not run): re-run the Python path, which reports the exact message."""


class _Unsupported(Exception):
    """A shape this path cannot reproduce exactly."""


SQL = Callable[[str], str]


@dataclass(frozen=True)
class _Node:
    read: str                 # ClickHouse type the Protobuf format reads the field into
    out: str                  # ClickHouse type of the converted value
    convert: SQL | None       # read value -> output value; None when the read value is the output
    check: SQL | None         # read value -> UInt8 that is 0 when the Python path would reject it


def native_batches(
    engine: Any, compiled: CompiledSchema, message_name: str, body: Path, fmt: str, columns: list[Column], *,
    work_dir: Path, batch_rows: int = 65536, query_tag: str | None = None,
) -> Iterator[pa.RecordBatch] | None:
    """Batches of ``translate.arrow_schema(columns)`` decoded by chdb from the file ``body``, or None when this path
    cannot reproduce the Python path exactly (then use ``ingest.decode_batches``).

    ``engine`` is the ClickHouse engine; only its embedded (chdb) mode can read our local file. ``work_dir`` holds
    the .proto files chdb reads, one content-addressed directory per schema. The iterator raises
    ``NativeDecodeError`` when chdb rejects the body, possibly after some batches were yielded: abort the inserts
    and re-run the Python path. ``QueryCancelled``/``QueryTimeout`` from ``engine.cancel(query_tag)`` pass through.
    """
    if fmt not in _FORMATS or getattr(engine, "mode", None) != "embedded" or not compiled.sources:
        return None
    body = Path(body).resolve()
    if _GLOB.search(str(body)) or not body.is_file():
        return None
    if fmt == "single" and not 0 < body.stat().st_size <= _MAX_SINGLE_BYTES:
        return None   # an empty body is one all-default message in the Python path and no row in ClickHouse
    try:
        descriptor = compiled.descriptor(message_name)
        if descriptor.containing_type is not None:
            raise _Unsupported("chdb finds top-level messages only")
        structure, select, checks = _plan(descriptor, columns)
        schema_file = _write_schema(compiled, descriptor, Path(work_dir))
    except (_Unsupported, OSError):
        return None
    # Checks run in the inner query, where names are the read columns (outside, the converted aliases shadow them).
    source = (f"SELECT * FROM file({_literal(str(body))}, {_literal(_FORMATS[fmt])}, "
              f"{_literal(', '.join(structure))}, 'none')")
    if checks:
        source += f" WHERE throwIf(NOT ({' AND '.join(checks)}), {_literal(_REJECTED)}) = 0"
    sql = f"SELECT {', '.join(select)} FROM ({source})"
    relative = descriptor.full_name.removeprefix(descriptor.file.package + ".") if descriptor.file.package \
        else descriptor.full_name
    sql += f" SETTINGS format_schema = {_literal(f'{schema_file}:{relative}')}"
    return _stream(engine, sql, translate.arrow_schema(columns), batch_rows,
                   query_tag or f"native-ingest-{uuid.uuid4().hex[:12]}")


def native_sql(compiled: CompiledSchema, message_name: str, columns: list[Column]) -> str | None:
    """The SELECT list this path would run (for debugging and tests), or None when unsupported."""
    try:
        _, select, _ = _plan(compiled.descriptor(message_name), columns)
    except _Unsupported:
        return None
    return ", ".join(select)


def _stream(engine: Any, sql: str, schema: pa.Schema, batch_rows: int, tag: str) -> Iterator[pa.RecordBatch]:
    try:
        for batch in engine.execute(sql, query_tag=tag, batch_rows=batch_rows):
            if batch.num_rows:   # like the Python path, no empty batches (the engine leads with one)
                yield _finish(batch, schema)
    except QueryTimeout:
        raise
    except (EngineQueryError, EngineUnavailable) as exc:
        # The engine's message quotes the whole query; the first line names the problem.
        raise NativeDecodeError(str(exc).split(": In scope", 1)[0][:500]) from exc


# -- the plan: structure, SELECT list, checks ------------------------------------------------------------------


def _plan(message: Descriptor, columns: list[Column]) -> tuple[list[str], list[str], list[str]]:
    structure, select, checks = [], [], []
    members = _members(message, columns)
    for column, field, oneof in members:
        name = _quote(column.name)
        if field is None:
            select.append(f"{_case(oneof, members, _quote)} AS {name}")
            continue
        node = _field(field, column.type, column.nullable)
        structure.append(f"{name} {node.read}")
        select.append(f"{node.convert(name)} AS {name}" if node.convert else name)
        if node.check:
            checks.append(node.check(name))
    checks += _oneof_checks(message, members, _quote)
    if not structure:
        raise _Unsupported("no readable field")
    return structure, select, checks


Member = tuple[Column, FieldDescriptor | None, str | None]


def _members(message: Descriptor, columns: tuple[Column, ...] | list[Column]) -> list[Member]:
    """Each column with its field (or, for a ``<oneof>_case`` column, its oneof), matched by name."""
    lowered = [f.name.lower() for f in message.fields]
    if len(set(lowered)) != len(lowered):
        raise _Unsupported("ClickHouse matches field names case-insensitively")
    by_name = {s.column.name: s for s in translate.slots(message, max_depth=1)}
    members: list[Member] = []
    for column in columns:
        slot = by_name.get(column.name)
        if slot is None:
            raise _Unsupported(f"column {column.name} matches no field")
        members.append((column, slot.field, slot.oneof))
    return members


def _case(oneof: str | None, members: list[Member], ref: SQL) -> str:
    branches = [f"isNotNull({ref(f.name)}), {_literal(f.name)}" for _, f, _ in members
                if f is not None and f.containing_oneof is not None and f.containing_oneof.name == oneof]
    if not branches:
        raise _Unsupported(f"oneof {oneof} has no member columns")
    return f"CAST(multiIf({', '.join(branches)}, NULL), 'Nullable(String)')"


def _oneof_checks(message: Descriptor, members: list[Member], ref: SQL) -> list[str]:
    """Protobuf keeps only the last member of a oneof on the wire; ClickHouse keeps all: reject more than one."""
    checks = []
    for oneof in {o for _, _, o in members if o is not None}:
        names = [f.name for _, f, _ in members
                 if f is not None and f.containing_oneof is not None and f.containing_oneof.name == oneof]
        if len(names) > 1:
            checks.append(f"({' + '.join(f'isNotNull({ref(n)})' for n in names)}) <= 1")
    return checks


def _field(field: FieldDescriptor, column_type: ColumnType, nullable: bool) -> _Node:
    if field.is_required or field.type == _T.TYPE_GROUP:
        raise _Unsupported(f"{field.full_name}: required fields and groups")
    if isinstance(column_type, MapOf):
        entry = field.message_type
        return _map(_value(entry.fields_by_name["key"], column_type.key, False),
                    _value(entry.fields_by_name["value"], column_type.value, False))
    if isinstance(column_type, ListOf):
        if field.enum_type is not None and field.enum_type.is_closed:
            raise _Unsupported(f"{field.full_name}: repeated closed enum")
        return _list(_value(field, column_type.item, False))
    return _value(field, column_type, nullable)


def _value(field: FieldDescriptor, column_type: ColumnType, nullable: bool) -> _Node:
    """One (non-repeated) value of ``field`` stored as ``column_type``."""
    wrap = (lambda t: f"Nullable({t})") if nullable else (lambda t: t)
    if isinstance(column_type, Enum):
        numbers: dict[int, str] = {}
        for value in field.enum_type.values:
            numbers.setdefault(value.number, value.name)   # with allow_alias the first label names the number
        keys = ", ".join(str(n) for n in numbers)
        labels = ", ".join(_literal(label) for label in numbers.values())
        return _Node(wrap("Int32"), wrap("String"),
                     lambda e: f"transform({e}, CAST([{keys}], 'Array(Int32)'), [{labels}], toString({e}))", None)
    if isinstance(column_type, Timestamp | Interval):
        return _time(field, nullable, timestamp=isinstance(column_type, Timestamp))
    message = field.message_type
    if isinstance(column_type, Scalar):
        if column_type.kind not in _CH_SCALARS:
            raise _Unsupported(f"{field.full_name}: {column_type.kind} column")
        inner = _scalar(column_type.kind, nullable)
        if message is None:
            return inner
        if message.full_name not in translate.WRAPPERS:
            raise _Unsupported(f"{field.full_name}: message stored as {column_type.kind}")
        return _wrapper(inner, column_type.kind, nullable)
    if isinstance(column_type, Struct) and message is not None:
        return _struct(message, column_type, nullable)
    raise _Unsupported(f"{field.full_name}: {column_type!r}")


def _scalar(kind: str, nullable: bool) -> _Node:
    ch = _CH_SCALARS[kind]
    ch = f"Nullable({ch})" if nullable else ch
    if kind == "binary":
        return _Node(ch, ch, lambda e: f"hex({e})", None)
    if kind == "string":
        return _Node(ch, ch, None, lambda e: f"ifNull(isValidUTF8({e}), 1)")
    return _Node(ch, ch, None, None)


def _wrapper(inner: _Node, kind: str, nullable: bool) -> _Node:
    """google.protobuf.XValue: a one-member message whose ``value`` is the column."""
    base = _CH_SCALARS[kind]
    read = f"Tuple(value {base})"
    unwrap = (lambda e: f"tupleElement({e}, 'value')")
    convert = inner.convert
    check = inner.check
    return _Node(f"Nullable({read})" if nullable else read, inner.out,
                 (lambda e: convert(unwrap(e))) if convert else unwrap,
                 (lambda e: check(unwrap(e))) if check else None)


def _time(field: FieldDescriptor, nullable: bool, *, timestamp: bool) -> _Node:
    read = "Tuple(seconds Int64, nanos Int32)"
    out = "Nullable(Int64)" if nullable else "Int64"

    def parts(e: str) -> tuple[str, str]:
        return f"tupleElement({e}, 'seconds')", f"tupleElement({e}, 'nanos')"

    def convert(e: str) -> str:
        # intDiv truncates toward zero: a Duration's rule, and a Timestamp's floor since its nanos are >= 0.
        seconds, nanos = parts(e)
        return f"{seconds} * 1000000 + intDiv({nanos}, 1000)"

    def check(e: str) -> str:
        seconds, nanos = parts(e)
        if timestamp:
            ok = f"{seconds} BETWEEN {_TS_MIN} AND {_TS_MAX} AND {nanos} BETWEEN 0 AND {_NANOS_MAX}"
        else:
            ok = (f"abs({seconds}) <= {_DUR_MAX} AND abs({nanos}) <= {_NANOS_MAX} "
                  f"AND NOT ({seconds} > 0 AND {nanos} < 0) AND NOT ({seconds} < 0 AND {nanos} > 0)")
        return f"ifNull({ok}, 1)"

    return _Node(f"Nullable({read})" if nullable else read, out, convert, check)


def _struct(message: Descriptor, column_type: Struct, nullable: bool) -> _Node:
    members = _members(message, column_type.fields)
    nodes = {c.name: _field(f, c.type, c.nullable) for c, f, _ in members if f is not None}
    if not nodes:
        raise _Unsupported(f"{message.full_name}: no readable field")
    read = f"Tuple({', '.join(f'{_quote(n)} {node.read}' for n, node in nodes.items())})"
    out = f"Tuple({', '.join(f'{_quote(c.name)} {_member_out(c, nodes)}' for c, _, _ in members)})"
    needs_convert = any(node.convert for node in nodes.values()) or len(nodes) != len(members)
    member_checks = [(n, node.check) for n, node in nodes.items() if node.check]

    def element(e: str) -> SQL:
        return lambda name: f"tupleElement({e}, {_literal(name)})"

    def convert(e: str) -> str:
        x = f"assumeNotNull({e})" if nullable else e
        ref = element(x)
        parts = []
        for column, field, oneof in members:
            if field is None:
                parts.append(_case(oneof, members, ref))
            else:
                node = nodes[column.name]
                parts.append(node.convert(ref(column.name)) if node.convert else ref(column.name))
        built = f"CAST(tuple({', '.join(parts)}), {_literal(out)})"
        return f"if(isNull({e}), NULL, {built})" if nullable else built

    def check(e: str) -> str:
        ref = element(e)
        tests = [c(ref(n)) for n, c in member_checks] + _oneof_checks(message, members, ref)
        return f"ifNull({' AND '.join(tests)}, 1)" if tests else "1"

    has_checks = bool(member_checks) or bool(_oneof_checks(message, members, lambda n: n))
    return _Node(f"Nullable({read})" if nullable else read, f"Nullable({out})" if nullable else out,
                 convert if needs_convert else None, check if has_checks else None)


def _member_out(column: Column, nodes: dict[str, _Node]) -> str:
    node = nodes.get(column.name)
    return node.out if node is not None else "Nullable(String)"   # a oneof case column


_lambda_ids = itertools.count(1)


def _lambda_var() -> str:
    """A lambda parameter name no enclosing lambda uses (nested arrayMap would otherwise shadow it)."""
    return f"_x{next(_lambda_ids)}"


def _list(item: _Node) -> _Node:
    v = _lambda_var()
    convert = (lambda e: f"arrayMap({v} -> {item.convert(v)}, {e})") if item.convert else None
    check = (lambda e: f"arrayAll({v} -> {item.check(v)}, {e})") if item.check else None
    return _Node(f"Array({item.read})", f"Array({item.out})", convert, check)


def _map(key: _Node, value: _Node) -> _Node:
    v, k = _lambda_var(), _lambda_var()
    values = (lambda e: f"arrayMap({v} -> {value.convert(v)}, mapValues({e}))") if value.convert \
        else (lambda e: f"mapValues({e})")

    def convert(e: str) -> str:
        # Sorted by key: the Python path's order (upb's hash order) cannot be reproduced, a sorted one is stable.
        return f"mapFromArrays(arraySort(mapKeys({e})), arraySort(({v}, {k}) -> {k}, {values(e)}, mapKeys({e})))"

    def check(e: str) -> str:
        tests = [f"length(arrayDistinct(mapKeys({e}))) = length(mapKeys({e}))"]
        if key.check:
            tests.append(f"arrayAll({k} -> {key.check(k)}, mapKeys({e}))")
        if value.check:
            tests.append(f"arrayAll({v} -> {value.check(v)}, mapValues({e}))")
        return " AND ".join(tests)

    return _Node(f"Map({key.read}, {value.read})", f"Map({key.out}, {value.out})", convert, check)


# -- schema files ------------------------------------------------------------------------------------------------


def _write_schema(compiled: CompiledSchema, message: Descriptor, work_dir: Path) -> Path:
    """Write the .proto files chdb reads into ``work_dir/<content hash>/`` once; return the file to name.

    chdb resolves imports against the directory of the ``format_schema`` file, so the message's file is also written
    at that directory's root (imports are paths from the root). Directories are content-addressed because chdb
    caches a parsed schema by its path.
    """
    sources = compiled.proto_sources()
    if message.file.name not in sources:
        raise _Unsupported("no .proto text for the message's file")
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(f"{len(name)}:{name}:{len(sources[name])}:".encode() + sources[name].encode())
    digest.update(message.file.name.encode())
    target = (work_dir / digest.hexdigest()[:24]).resolve()
    if _GLOB.search(str(target)) or "'" in str(target):
        raise _Unsupported("work_dir path")
    if not target.is_dir():
        work_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=work_dir))
        try:
            for name, text in {**sources, _ROOT_FILE: sources[message.file.name]}.items():
                path = staging / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            os.rename(staging, target)   # atomic: a concurrent ingest sees all files or none
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():
                raise
    return target / _ROOT_FILE


# -- Arrow -------------------------------------------------------------------------------------------------------


def _finish(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    arrays = [_to_type(batch.column(field.name), field.type) for field in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _to_type(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast the engine's Arrow to the ingest schema; binary values arrive as hex and are decoded here."""
    if array.type == target:
        return array
    if not _has_binary(target):
        return array.cast(target)
    if pa.types.is_binary(target):
        return _unhex(array)
    if pa.types.is_struct(target):
        children = [_to_type(array.field(f.name), f.type) for f in target]
        mask = array.is_null() if array.null_count else None
        return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)
    if pa.types.is_map(target):
        keys = _to_type(array.keys, target.key_type)
        items = _to_type(array.items, target.item_type)
        return pa.MapArray.from_arrays(array.offsets, keys, items, type=target)
    if pa.types.is_list(target):
        return pa.ListArray.from_arrays(array.offsets, _to_type(array.values, target.value_type), type=target)
    return array.cast(target)


def _has_binary(t: pa.DataType) -> bool:
    if pa.types.is_binary(t):
        return True
    if pa.types.is_struct(t):
        return any(_has_binary(f.type) for f in t)
    if pa.types.is_map(t):
        return _has_binary(t.key_type) or _has_binary(t.item_type)
    if pa.types.is_list(t):
        return _has_binary(t.value_type)
    return False


_HEX = np.zeros(256, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)


def _unhex(array: pa.Array) -> pa.Array:
    """Hex text -> binary, vectorized: every value halves, offsets halve."""
    array = array.cast(pa.string())
    if array.offset:
        array = pa.concat_arrays([array])   # rebase to offset 0 so the validity bitmap can be reused as is
    validity, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=len(array) + 1)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    nibbles = _HEX[data[offsets[0]:offsets[-1]]]
    raw = (nibbles[0::2] << 4) | nibbles[1::2]
    halved = ((offsets - offsets[0]) // 2).astype(np.int32)
    return pa.Array.from_buffers(pa.binary(), len(array), [validity, pa.py_buffer(halved), pa.py_buffer(raw)],
                                 null_count=array.null_count)


def _quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
