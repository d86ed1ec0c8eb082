"""The fast decode path: an engine's own ``Protobuf`` input format (embedded chdb) turns a body into Arrow.

The engine declares it (``supports_native_protobuf``) and runs it (``Engine.read_protobuf``, which writes the
``file()`` query); this module plans what to read and how to convert it. The plan is written in ClickHouse types and
functions, the only engine with the capability: moving it into ``engines/`` would teach engines protobuf.

chdb decodes several M messages/s against ~0.4 M/s for upb + Arrow building in Python (DESIGN.md, "Runtime facts"),
so ingest tries this first and falls back to ``ingest.decode_batches`` on ``None`` (a shape this path cannot
reproduce exactly) or ``NativeDecodeError`` (chdb rejected the body; the Python path then names the bad message).

The batches equal the Python path's: same columns (``translate.columns_for``), same Arrow types
(``translate.arrow_schema``), same values. Every field is read into a ClickHouse type the format accepts, then
converted in the SELECT:
- enums are read as their Int32 number and labelled with ``transform``: unknown numbers survive as their decimal
  string (an Enum/String column would reject them);
- Timestamp/Duration are read as ``Tuple(seconds, nanos)`` and become Int64 microseconds, then Arrow types;
- wrappers are ``Nullable(Tuple(value))`` unwrapped; messages are ``Nullable(Tuple)``; repeated is ``Array``;
- bytes travel as hex (the engine's client shows a non-UTF-8 String as hex digits, which is ambiguous) and are
  unhexed in Arrow;
- maps come back sorted by key. The Python path emits upb's hash order, which no SQL can reproduce, so the two paths
  agree on the key -> value set, not on the order of entries.
Rows the Python path rejects fail the query through ``throwIf`` (invalid UTF-8, Timestamp/Duration out of range), and
so do rows protobuf resolves by "last one wins" but ClickHouse keeps whole (two members of one oneof, a map key
twice), so the caller re-runs the Python path, which reports or resolves them exactly.

Not native (``None``): jsonl, FileDescriptorSet uploads (no .proto text), JSON columns (Struct/Value/Any, recursion
past the depth cap, empty messages), proto2 ``required``, groups, repeated closed enums (upb moves unknown values
behind the known ones), nested root messages, field names equal but for case, an engine without
``supports_native_protobuf`` (ClickHouse in server mode).

Known gaps on malformed input (ClickHouse is laxer than upb): a numeric field arriving with another wire type is read
as packed values or skipped instead of failing, and a singular message field split over several occurrences on the
wire is not merged. Canonical encoders write neither.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from bqlite_app.schemas import translate
from bqlite_app.schemas._native_arrow import to_ingest_type
from bqlite_app.schemas.compiler import CompiledSchema
from engines.base import Engine, ProtobufRead
from engines.errors import EngineQueryError, EngineUnavailable, QueryTimeout
from engines.types import Column, ColumnType, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp

_FORMATS = ("delimited", "single")
_ROOT_FILE = "__bqlite_root__.proto"
_MAX_SINGLE_BYTES = 64 << 20           # the Python path's limit for one message (_frames.MAX_MESSAGE_BYTES)
_TS_MIN, _TS_MAX, _DUR_MAX, _NANOS_MAX = -62_135_596_800, 253_402_300_799, 315_576_000_000, 999_999_999
_CH_SCALARS = {
    "bool": "Bool", "int32": "Int32", "int64": "Int64", "uint32": "UInt32", "uint64": "UInt64",
    "float32": "Float32", "float64": "Float64", "string": "String", "binary": "String",
}
_REJECTED = "bqlite: a value the Python path rejects"
_lambda_ids = itertools.count(1)       # lambda parameters get unique names, so nested ones never shadow each other

SQL = Callable[[str], str]
Member = tuple[Column, FieldDescriptor | None, str | None]    # column, its field or None, its oneof (case columns)
_Labels = tuple[pa.Array, pa.Array]                            # an enum's numbers and their labels


class NativeDecodeError(Exception):
    """chdb rejected the body (or could not run it): re-run the Python path, which reports the exact message."""


class _Unsupported(Exception):
    """A shape this path cannot reproduce exactly."""


@dataclass(frozen=True)
class _Node:
    read: str                 # ClickHouse type the Protobuf format reads the field into
    out: str                  # ClickHouse type of the converted value
    convert: SQL | None       # read value -> output value; None when the read value is the output
    check: SQL | None         # read value -> UInt8, 0 when the Python path would not take the value as ClickHouse did


def native_batches(
    engine: Engine, compiled: CompiledSchema, message_name: str, body: Path, fmt: str, columns: list[Column], *,
    work_dir: Path, batch_rows: int = 65536, query_tag: str | None = None,
) -> Iterator[pa.RecordBatch] | None:
    """Batches of ``translate.arrow_schema(columns)`` decoded by the engine's own Protobuf reader from the file
    ``body``, or None when this path cannot reproduce the Python path exactly (then use ``ingest.decode_batches``).

    ``engine`` must declare ``supports_native_protobuf`` (embedded ClickHouse: only it reads our local file). The
    stream runs outside the engine's query slots (``Engine.read_protobuf``), so inserting its batches into the same
    engine cannot wait on itself; when every decode client is busy the iterator raises ``NativeDecodeError`` at once.
    ``work_dir`` keeps the .proto files the engine reads, one content-addressed directory per schema. The iterator
    raises ``NativeDecodeError`` when the engine rejects the body, possibly after some batches were yielded: abort the
    inserts and re-run the Python path. ``QueryCancelled`` and ``QueryTimeout`` (``engine.cancel(query_tag)``,
    limits) pass through unchanged.
    """
    if fmt not in _FORMATS or not engine.supports_native_protobuf or not compiled.sources:
        return None
    body = Path(body).resolve()
    if not body.is_file():
        return None
    if fmt == "single" and not 0 < body.stat().st_size <= _MAX_SINGLE_BYTES:
        return None   # an empty body is one all-default message in the Python path and no row in ClickHouse
    try:
        descriptor = compiled.descriptor(message_name)
        if descriptor.containing_type is not None:
            raise _Unsupported("chdb finds top-level messages only")
        structure, select, checks, labels = _plan(descriptor, columns)
        schema_file = _write_schema(compiled, descriptor, Path(work_dir))
    except (_Unsupported, OSError):
        return None
    package = descriptor.file.package
    relative = descriptor.full_name.removeprefix(package + ".") if package else descriptor.full_name
    read = ProtobufRead(body=body, delimited=fmt == "delimited", schema_file=schema_file, message=relative,
                        structure=tuple(structure), select=tuple(select), checks=tuple(checks), rejected=_REJECTED)
    return _stream(engine, read, translate.arrow_schema(columns), labels, batch_rows,
                   query_tag or f"native-ingest-{uuid.uuid4().hex[:12]}")


def _stream(engine: Engine, read: ProtobufRead, schema: pa.Schema, labels: dict[str, _Labels], batch_rows: int,
            tag: str) -> Iterator[pa.RecordBatch]:
    def column(batch: pa.RecordBatch, field: pa.Field) -> pa.Array:
        values = batch.column(field.name)
        if field.name in labels:
            values = _label(values, *labels[field.name])
        return to_ingest_type(values, field.type)

    try:
        for batch in engine.read_protobuf(read, query_tag=tag, batch_rows=batch_rows):
            if batch.num_rows:   # like the Python path, no empty batches (the engine may lead with one)
                yield pa.RecordBatch.from_arrays([column(batch, f) for f in schema], schema=schema)
    except QueryTimeout:
        raise
    except (EngineQueryError, EngineUnavailable) as exc:
        # The engine's message quotes the whole query; its head names the problem.
        raise NativeDecodeError(str(exc).split(": In scope", 1)[0][:500]) from exc


# -- the plan: structure, SELECT list, checks ------------------------------------------------------------------


def _plan(message: Descriptor, columns: list[Column]) -> tuple[list[str], list[str], list[str], dict[str, _Labels]]:
    """The columns read, the SELECT list, the row checks, and the top-level enum columns labelled in Arrow."""
    structure, select, checks, labels = [], [], [], {}
    members = _members(message, columns)
    for column, field, oneof in members:
        name = _quote(column.name)
        if field is None:
            select.append(f"{_case(oneof, members, _quote)} AS {name}")
            continue
        node = _field(field, column.type, column.nullable)
        structure.append(f"{name} {node.read}")
        if isinstance(column.type, Enum):
            # Numbers travel as Int32 and are labelled in Arrow: a String column costs the engine's client a Python
            # object per value (about a tenth of the decode's CPU for one enum column).
            known = _enum_labels(field)
            labels[column.name] = (pa.array(list(known), pa.int32()), pa.array(list(known.values()), pa.string()))
            select.append(name)
        else:
            select.append(f"{node.convert(name)} AS {name}" if node.convert else name)
        if node.check:
            checks.append(node.check(name))
    checks += _oneof_checks(members, _quote)
    if not structure:
        raise _Unsupported("no readable field")
    return structure, select, checks, labels


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


def _oneof_fields(members: list[Member], oneof: str | None) -> list[str]:
    return [f.name for _, f, _ in members
            if f is not None and f.containing_oneof is not None and f.containing_oneof.name == oneof]


def _case(oneof: str | None, members: list[Member], ref: SQL) -> str:
    branches = [f"isNotNull({ref(name)}), {_literal(name)}" for name in _oneof_fields(members, oneof)]
    if not branches:
        raise _Unsupported(f"oneof {oneof} has no member columns")
    return f"CAST(multiIf({', '.join(branches)}, NULL), 'Nullable(String)')"


def _oneof_checks(members: list[Member], ref: SQL) -> list[str]:
    """Protobuf keeps only the last member of a oneof on the wire; ClickHouse keeps all: refuse more than one."""
    checks = []
    for oneof in sorted({o for _, _, o in members if o is not None}):
        names = _oneof_fields(members, oneof)
        if len(names) > 1:
            checks.append(f"({' + '.join(f'isNotNull({ref(n)})' for n in names)}) <= 1")
    return checks


def _field(field: FieldDescriptor, column_type: ColumnType, nullable: bool) -> _Node:
    if field.is_required or field.type == FieldDescriptor.TYPE_GROUP:
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
    def wrap(t: str) -> str:
        return f"Nullable({t})" if nullable else t

    message = field.message_type
    if isinstance(column_type, Enum):
        labels = _enum_labels(field)
        numbers = ", ".join(map(str, labels))
        names = ", ".join(map(_literal, labels.values()))
        return _Node(wrap("Int32"), wrap("String"),
                     lambda e: f"transform({e}, CAST([{numbers}], 'Array(Int32)'), [{names}], toString({e}))", None)
    if isinstance(column_type, Timestamp | Interval):
        return _time(wrap, timestamp=isinstance(column_type, Timestamp))
    if isinstance(column_type, Scalar) and column_type.kind in _CH_SCALARS:
        ch = _CH_SCALARS[column_type.kind]
        convert = (lambda e: f"hex({e})") if column_type.kind == "binary" else None
        check = (lambda e: f"ifNull(isValidUTF8({e}), 1)") if column_type.kind == "string" else None
        if message is None:
            return _Node(wrap(ch), wrap(ch), convert, check)
        if message.full_name in translate.WRAPPERS:   # google.protobuf.XValue: its ``value`` is the column
            def unwrap(e: str) -> str:
                return f"tupleElement({e}, 'value')"
            return _Node(wrap(f"Tuple(value {ch})"), wrap(ch), (lambda e: convert(unwrap(e))) if convert else unwrap,
                         (lambda e: check(unwrap(e))) if check else None)
    if isinstance(column_type, Struct) and message is not None:
        return _struct(message, column_type, nullable)
    raise _Unsupported(f"{field.full_name}: {column_type!r}")


def _enum_labels(field: FieldDescriptor) -> dict[int, str]:
    labels: dict[int, str] = {}
    for value in field.enum_type.values:
        labels.setdefault(value.number, value.name)   # with allow_alias the first label names the number
    return labels


def _label(numbers: pa.Array, known: pa.Array, names: pa.Array) -> pa.Array:
    """Enum numbers to labels; a number without a label keeps its decimal string, as ``transform`` does in SQL."""
    index = pc.index_in(numbers, value_set=known)
    labelled = pa.DictionaryArray.from_arrays(index, names).dictionary_decode()
    if index.null_count == numbers.null_count:   # every number has a label (nulls are null either way)
        return labelled
    return pc.coalesce(labelled, pc.cast(numbers, pa.string()))


def _time(wrap: Callable[[str], str], *, timestamp: bool) -> _Node:
    def parts(e: str) -> tuple[str, str]:
        return f"tupleElement({e}, 'seconds')", f"tupleElement({e}, 'nanos')"

    def convert(e: str) -> str:
        # intDiv truncates toward zero: the Duration rule, and the Timestamp floor since its checked nanos are >= 0.
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

    return _Node(wrap("Tuple(seconds Int64, nanos Int32)"), wrap("Int64"), convert, check)


def _struct(message: Descriptor, column_type: Struct, nullable: bool) -> _Node:
    members = _members(message, column_type.fields)
    nodes = {c.name: _field(f, c.type, c.nullable) for c, f, _ in members if f is not None}
    if not nodes:
        raise _Unsupported(f"{message.full_name}: no readable field")
    read = f"Tuple({', '.join(f'{_quote(n)} {node.read}' for n, node in nodes.items())})"
    outs = [nodes[c.name].out if c.name in nodes else "Nullable(String)" for c, _, _ in members]   # case: String
    out = f"Tuple({', '.join(f'{_quote(c.name)} {t}' for (c, _, _), t in zip(members, outs, strict=True))})"
    checked = [(n, node.check) for n, node in nodes.items() if node.check]

    def element(e: str) -> SQL:
        return lambda name: f"tupleElement({e}, {_literal(name)})"

    def convert(e: str) -> str:
        ref = element(f"assumeNotNull({e})" if nullable else e)
        parts = []
        for column, field, oneof in members:
            node = nodes.get(column.name)
            if field is None:
                parts.append(_case(oneof, members, ref))
            else:
                parts.append(node.convert(ref(column.name)) if node.convert else ref(column.name))
        built = f"CAST(tuple({', '.join(parts)}), {_literal(out)})"
        return f"if(isNull({e}), NULL, {built})" if nullable else built

    def check(e: str) -> str:
        ref = element(e)
        return f"ifNull({' AND '.join([c(ref(n)) for n, c in checked] + _oneof_checks(members, ref))}, 1)"

    needs_convert = any(node.convert for node in nodes.values()) or len(nodes) != len(members)
    needs_check = bool(checked or _oneof_checks(members, str))
    return _Node(f"Nullable({read})" if nullable else read, f"Nullable({out})" if nullable else out,
                 convert if needs_convert else None, check if needs_check else None)


def _list(item: _Node) -> _Node:
    v = f"_x{next(_lambda_ids)}"
    convert = (lambda e: f"arrayMap({v} -> {item.convert(v)}, {e})") if item.convert else None
    check = (lambda e: f"arrayAll({v} -> {item.check(v)}, {e})") if item.check else None
    return _Node(f"Array({item.read})", f"Array({item.out})", convert, check)


def _map(key: _Node, value: _Node) -> _Node:
    v, k = f"_x{next(_lambda_ids)}", f"_x{next(_lambda_ids)}"

    def convert(e: str) -> str:
        values = f"arrayMap({v} -> {value.convert(v)}, mapValues({e}))" if value.convert else f"mapValues({e})"
        return f"mapFromArrays(arraySort(mapKeys({e})), arraySort(({v}, {k}) -> {k}, {values}, mapKeys({e})))"

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
    digest = hashlib.sha256(message.file.name.encode() + b"\0")
    for name in sorted(sources):
        digest.update(f"{len(name)}:{name}:{len(sources[name])}:{sources[name]}".encode())
    target = (work_dir / digest.hexdigest()[:24]).resolve()
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
            if not target.is_dir():     # losing the race to a concurrent writer is fine
                raise
    return target / _ROOT_FILE


def _quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
