"""A neutral column type tree.

``schemas/`` translates protobuf descriptors into these types; each engine renders them into its own DDL. Engines
know no protobuf and schemas know no SQL dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ScalarKind = Literal[
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "string", "binary", "date", "time", "json",
]
# "time" is a time of day with microsecond precision and no zone (BigQuery's TIME).


@dataclass(frozen=True)
class Scalar:
    kind: ScalarKind


@dataclass(frozen=True)
class Timestamp:
    """Microsecond precision. ``tz="UTC"``: an instant (BigQuery's TIMESTAMP). ``tz=None``: a naive wall-clock date
    and time with no zone (BigQuery's DATETIME)."""

    unit: Literal["us"] = "us"
    tz: str | None = "UTC"


MAX_DECIMAL_PRECISION = 76


@dataclass(frozen=True)
class Decimal:
    """An exact decimal: ``precision`` digits in all, ``scale`` of them after the point. NUMERIC is (38, 9) and
    BIGNUMERIC (76, 38); an engine that stops short of 76 digits documents how it narrows."""

    precision: int = 38
    scale: int = 9

    def __post_init__(self) -> None:
        if not 1 <= self.precision <= MAX_DECIMAL_PRECISION or not 0 <= self.scale <= self.precision:
            raise ValueError(f"invalid decimal precision/scale ({self.precision}, {self.scale})")


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


ColumnType = Scalar | Timestamp | Decimal | Interval | Enum | ListOf | MapOf | Struct


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = True
    description: str = field(default="", compare=False)
