"""What ``Engine.read_protobuf`` reads: a body file and the shape of its rows, described without any SQL.

The caller (``bqlite_app.schemas.native``) knows the message descriptors and decides what to read; the engine knows
its own reader and writes the query (``engines._ch_protobuf`` for ClickHouse). In between is this description, in
neutral terms: fields with a value shape, and the rules a row must meet. A row that breaks a rule fails the whole
read with ``ProtobufRead.rejected`` (the caller then decodes the body another way, which names the bad message).

Every value comes back as the Arrow type of its shape:
- ``ReadScalar``: the neutral scalar kind (``engines.types.Scalar``): ``binary`` is Arrow binary, ``string`` string;
- ``ReadEnum``: the label text; ``ReadTime``: int64 microseconds; ``ReadStruct``: a struct; ``ReadList``: a list;
  ``ReadMap``: a map with its entries sorted by key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Scalar kinds a body's field can be read as.
SCALAR_KINDS = frozenset({"bool", "int32", "int64", "uint32", "uint64", "float32", "float64", "string", "binary"})


@dataclass(frozen=True)
class ReadScalar:
    """A scalar field. ``string`` values must be valid UTF-8 (else the row is rejected). With ``wrapped`` the value
    sits in a one-field message whose field is named ``value`` (a wrapper type); the column is that value."""

    kind: str
    wrapped: bool = False


@dataclass(frozen=True)
class ReadEnum:
    """A 32-bit number shown as its label from ``labels`` (number, label); a number without one as its decimal
    text, so no value is lost."""

    labels: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class ReadTime:
    """A message of ``seconds`` (int64) and ``nanos`` (int32) read as microseconds, truncated toward zero.

    The row is rejected unless ``seconds`` and ``nanos`` are within their bounds and, with ``same_sign``, the two do
    not have opposite signs."""

    seconds: tuple[int, int]
    nanos: tuple[int, int]
    same_sign: bool = False


@dataclass(frozen=True)
class ReadStruct:
    """A message read whole: its ``fields``, and groups of them of which at most one may be set (``exclusive``)."""

    fields: tuple[ReadField, ...]
    exclusive: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ReadList:
    """A repeated field; never null (absent is empty)."""

    item: ReadValue


@dataclass(frozen=True)
class ReadMap:
    """Key/value entries, sorted by key; a row with a key twice in one map is rejected."""

    key: ReadValue
    value: ReadValue


@dataclass(frozen=True)
class WhichOf:
    """Not read from the body: the name of the first of the sibling fields ``members`` that is set, else null."""

    members: tuple[str, ...]


ReadValue = ReadScalar | ReadEnum | ReadTime | ReadStruct | ReadList | ReadMap


@dataclass(frozen=True)
class ReadField:
    """One column (or struct member): the field named ``name`` read as ``value``. ``nullable``: absent is null
    (else it is the type's default); ``WhichOf`` values are always nullable."""

    name: str
    value: ReadValue | WhichOf
    nullable: bool = False


@dataclass(frozen=True)
class ProtobufRead:
    """A body for the engine's own Protobuf reader (``Engine.read_protobuf``).

    ``body`` is a file on this machine: length-delimited messages when ``delimited``, else one message.
    ``schema_file`` is a .proto file on this machine and ``message`` the message in it, relative to its package.
    ``fields`` are the result's columns in order, ``exclusive`` groups of them of which at most one may be set; a row
    breaking any rule fails the read with ``rejected``.
    """

    body: Path
    delimited: bool
    schema_file: Path
    message: str
    fields: tuple[ReadField, ...]
    exclusive: tuple[tuple[str, ...], ...] = ()
    rejected: str = "a row failed a check"
