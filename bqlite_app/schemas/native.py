"""The fast decode path: an engine's own ``Protobuf`` input format (embedded chdb) turns a body into Arrow.

The engine declares it (``supports_native_protobuf``) and runs it (``Engine.read_protobuf``); this module plans what
to read, from the message descriptors, and hands the engine a description of the rows (``engines.protobuf_read``),
never SQL: the engine renders its own (``engines._ch_protobuf``), and knows no descriptors.

chdb decodes several M messages/s against ~0.4 M/s for upb + Arrow building in Python (DESIGN.md, "Runtime facts"),
so ingest tries this first and falls back to ``ingest.decode_batches`` on ``None`` (a shape this path cannot
reproduce exactly) or ``NativeDecodeError`` (chdb rejected the body; the Python path then names the bad message).

The batches equal the Python path's: same columns (``translate.columns_for``), same Arrow types
(``translate.arrow_schema``), same values. The description says how each field is read:
- enums are their number; nested ones are labelled by the engine (``ReadEnum``), top-level ones here in Arrow
  (cheaper: a String column costs the engine's client a Python object per value). Unknown numbers survive as their
  decimal string;
- Timestamp/Duration are (seconds, nanos) pairs (``ReadTime``) that become microseconds, then Arrow types;
- wrappers are ``ReadScalar(wrapped=True)``; messages are structs; repeated is a list;
- maps come back sorted by key. The Python path emits upb's hash order, which no SQL can reproduce, so the two paths
  agree on the key -> value set, not on the order of entries.
Rows the Python path rejects break a rule of the description and fail the read (invalid UTF-8, Timestamp/Duration out
of range), and so do rows protobuf resolves by "last one wins" but the engine keeps whole (two members of one oneof, a
map key twice), so the caller re-runs the Python path, which reports or resolves them exactly.

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
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from bqlite_app.schemas import translate
from bqlite_app.schemas.compiler import CompiledSchema
from engines.base import Engine
from engines.errors import EngineQueryError, EngineUnavailable, QueryTimeout
from engines.protobuf_read import (
    SCALAR_KINDS,
    ProtobufRead,
    ReadEnum,
    ReadField,
    ReadList,
    ReadMap,
    ReadScalar,
    ReadStruct,
    ReadTime,
    ReadValue,
    WhichOf,
)
from engines.types import Column, ColumnType, Enum, Interval, ListOf, MapOf, Scalar, Struct, Timestamp

_FORMATS = ("delimited", "single")
_ROOT_FILE = "__bqlite_root__.proto"
_MAX_SINGLE_BYTES = 64 << 20           # the Python path's limit for one message (_frames.MAX_MESSAGE_BYTES)
_TS_MIN, _TS_MAX, _DUR_MAX, _NANOS_MAX = -62_135_596_800, 253_402_300_799, 315_576_000_000, 999_999_999
# What google.protobuf.Timestamp and Duration allow (their .proto comments); the Python path rejects the rest.
_TIMESTAMP = ReadTime(seconds=(_TS_MIN, _TS_MAX), nanos=(0, _NANOS_MAX))
_DURATION = ReadTime(seconds=(-_DUR_MAX, _DUR_MAX), nanos=(-_NANOS_MAX, _NANOS_MAX), same_sign=True)
_REJECTED = "bqlite: a value the Python path rejects"

Member = tuple[Column, FieldDescriptor | None, str | None]    # column, its field or None, its oneof (case columns)
_Labels = tuple[pa.Array, pa.Array]                            # an enum's numbers and their labels


class NativeDecodeError(Exception):
    """chdb rejected the body (or could not run it): re-run the Python path, which reports the exact message."""


class _Unsupported(Exception):
    """A shape this path cannot reproduce exactly."""


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
        fields, exclusive, labels = _plan(descriptor, columns)
        schema_file = _write_schema(compiled, descriptor, Path(work_dir))
    except (_Unsupported, OSError):
        return None
    package = descriptor.file.package
    relative = descriptor.full_name.removeprefix(package + ".") if package else descriptor.full_name
    read = ProtobufRead(body=body, delimited=fmt == "delimited", schema_file=schema_file, message=relative,
                        fields=fields, exclusive=exclusive, rejected=_REJECTED)
    return _stream(engine, read, translate.arrow_schema(columns), labels, batch_rows,
                   query_tag or f"native-ingest-{uuid.uuid4().hex[:12]}")


def _stream(engine: Engine, read: ProtobufRead, schema: pa.Schema, labels: dict[str, _Labels], batch_rows: int,
            tag: str) -> Iterator[pa.RecordBatch]:
    def column(batch: pa.RecordBatch, field: pa.Field) -> pa.Array:
        values = batch.column(field.name)
        if field.name in labels:
            values = _label(values, *labels[field.name])
        # The engine's types are the description's (int64 microseconds, narrower or wider ints); the ingest
        # schema's are Arrow's own.
        return values if values.type == field.type else values.cast(field.type)

    try:
        for batch in engine.read_protobuf(read, query_tag=tag, batch_rows=batch_rows):
            if batch.num_rows:   # like the Python path, no empty batches (the engine may lead with one)
                yield pa.RecordBatch.from_arrays([column(batch, f) for f in schema], schema=schema)
    except QueryTimeout:
        raise
    except (EngineQueryError, EngineUnavailable) as exc:
        # The engine's message quotes the whole query; its head names the problem.
        raise NativeDecodeError(str(exc).split(": In scope", 1)[0][:500]) from exc


# -- the plan: which fields, read how, under which rules -----------------------------------------------------------


def _plan(message: Descriptor, columns: list[Column]) -> tuple[tuple[ReadField, ...], tuple[tuple[str, ...], ...],
                                                               dict[str, _Labels]]:
    """The fields read, the oneof groups of which at most one member may be set, and the top-level enum columns
    labelled here in Arrow."""
    members = _members(message, columns)
    fields, labels = [], {}
    for column, field, oneof in members:
        if field is None:
            fields.append(ReadField(column.name, _which(oneof, members), nullable=True))
        elif isinstance(column.type, Enum):
            known = _enum_labels(field)
            labels[column.name] = (pa.array(list(known), pa.int32()), pa.array(list(known.values()), pa.string()))
            fields.append(ReadField(column.name, ReadScalar("int32"), column.nullable))
        else:
            fields.append(ReadField(column.name, _field(field, column.type), column.nullable))
    return _readable(fields, message), _exclusive(members), labels


def _readable(fields: list[ReadField], message: Descriptor) -> tuple[ReadField, ...]:
    if all(isinstance(f.value, WhichOf) for f in fields):
        raise _Unsupported(f"{message.full_name}: no readable field")
    return tuple(fields)


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


def _oneof_fields(members: list[Member], oneof: str | None) -> tuple[str, ...]:
    return tuple(f.name for _, f, _ in members
                 if f is not None and f.containing_oneof is not None and f.containing_oneof.name == oneof)


def _which(oneof: str | None, members: list[Member]) -> WhichOf:
    """A ``<oneof>_case`` column: which member of the oneof is set."""
    names = _oneof_fields(members, oneof)
    if not names:
        raise _Unsupported(f"oneof {oneof} has no member columns")
    return WhichOf(names)


def _exclusive(members: list[Member]) -> tuple[tuple[str, ...], ...]:
    """Protobuf keeps only the last member of a oneof on the wire; ClickHouse keeps all: refuse more than one."""
    groups = (_oneof_fields(members, oneof) for oneof in sorted({o for _, _, o in members if o is not None}))
    return tuple(names for names in groups if len(names) > 1)


def _field(field: FieldDescriptor, column_type: ColumnType) -> ReadValue:
    if field.is_required or field.type == FieldDescriptor.TYPE_GROUP:
        raise _Unsupported(f"{field.full_name}: required fields and groups")
    if isinstance(column_type, MapOf):
        entry = field.message_type
        return ReadMap(_value(entry.fields_by_name["key"], column_type.key),
                       _value(entry.fields_by_name["value"], column_type.value))
    if isinstance(column_type, ListOf):
        if field.enum_type is not None and field.enum_type.is_closed:
            raise _Unsupported(f"{field.full_name}: repeated closed enum")
        return ReadList(_value(field, column_type.item))
    return _value(field, column_type)


def _value(field: FieldDescriptor, column_type: ColumnType) -> ReadValue:
    """One (non-repeated) value of ``field`` stored as ``column_type``."""
    message = field.message_type
    if isinstance(column_type, Enum):
        return ReadEnum(tuple(_enum_labels(field).items()))
    if isinstance(column_type, Timestamp):
        return _TIMESTAMP
    if isinstance(column_type, Interval):
        return _DURATION
    if isinstance(column_type, Scalar) and column_type.kind in SCALAR_KINDS:
        if message is None:
            return ReadScalar(column_type.kind)
        if message.full_name in translate.WRAPPERS:   # google.protobuf.XValue: its ``value`` is the column
            return ReadScalar(column_type.kind, wrapped=True)
    if isinstance(column_type, Struct) and message is not None:
        members = _members(message, column_type.fields)
        fields = [ReadField(c.name, _which(oneof, members), nullable=True) if f is None
                  else ReadField(c.name, _field(f, c.type), c.nullable) for c, f, oneof in members]
        return ReadStruct(_readable(fields, message), _exclusive(members))
    raise _Unsupported(f"{field.full_name}: {column_type!r}")


def _enum_labels(field: FieldDescriptor) -> dict[int, str]:
    labels: dict[int, str] = {}
    for value in field.enum_type.values:
        labels.setdefault(value.number, value.name)   # with allow_alias the first label names the number
    return labels


def _label(numbers: pa.Array, known: pa.Array, names: pa.Array) -> pa.Array:
    """Enum numbers to labels; a number without a label keeps its decimal string, as ``ReadEnum`` does."""
    index = pc.index_in(numbers, value_set=known)
    labelled = pa.DictionaryArray.from_arrays(index, names).dictionary_decode()
    if index.null_count == numbers.null_count:   # every number has a label (nulls are null either way)
        return labelled
    return pc.coalesce(labelled, pc.cast(numbers, pa.string()))


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

