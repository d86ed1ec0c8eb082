"""A neutral column type tree.

``schemas/`` translates protobuf descriptors into these types; each engine renders them into its own DDL. Engines
know no protobuf and schemas know no SQL dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ScalarKind = Literal[
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "string", "binary", "date", "json",
]


@dataclass(frozen=True)
class Scalar:
    kind: ScalarKind


@dataclass(frozen=True)
class Timestamp:
    """Microsecond precision, UTC."""

    unit: Literal["us"] = "us"
    tz: str = "UTC"


@dataclass(frozen=True)
class Interval:
    """A duration; engines without a native interval store int64 microseconds."""


@dataclass(frozen=True)
class Enum:
    """Labels with their numbers. Unknown numbers must survive, so engines may widen to a string."""

    values: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ListOf:
    item: ColumnType


@dataclass(frozen=True)
class MapOf:
    key: ColumnType
    value: ColumnType


@dataclass(frozen=True)
class Struct:
    fields: tuple[Column, ...]


ColumnType = Scalar | Timestamp | Interval | Enum | ListOf | MapOf | Struct


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = True
    description: str = field(default="", compare=False)
