"""BigQuery parameter types: ``INT64``, ``ARRAY<STRING>``, ``STRUCT<a INT64, b ARRAY<DATE>>`` parsed into ``BqType``.

Every name is checked against the scalars BigQuery knows (and their older aliases); nesting is bounded.
``duckdb_type`` / ``clickhouse_type`` name a parameter's type in each engine, for the placeholders that bind it (the
BigQuery face's translation and ``param_sql``'s native ``@name`` alike).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bqlite_app.errors import ValidationFailed

SCALARS = ("INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOL", "STRING", "BYTES", "DATE", "DATETIME", "TIME",
           "TIMESTAMP", "JSON")
# The older names the client and the REST API also use.
_ALIASES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "DECIMAL": "NUMERIC",
            "BIGDECIMAL": "BIGNUMERIC", "RECORD": "STRUCT"}
MAX_DEPTH = 15               # BigQuery's own limit on nested types
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class BqType:
    """A parsed TYPE: a scalar ``kind``, an ARRAY of ``item``, or a STRUCT of named ``fields``."""

    kind: str
    item: BqType | None = None
    fields: tuple[tuple[str, BqType], ...] = ()

    def __str__(self) -> str:
        if self.kind == "ARRAY":
            return f"ARRAY<{self.item}>"
        if self.kind == "STRUCT":
            return "STRUCT<" + ", ".join(f"{name} {typ}" for name, typ in self.fields) + ">"
        return self.kind


def parse_type(text: str, *, where: str = "parameter") -> BqType:
    """``INT64``, ``ARRAY<STRING>``, ``STRUCT<a INT64, b ARRAY<DATE>>`` -> ``BqType``."""
    if not isinstance(text, str) or len(text) > 10_000:
        raise ValidationFailed(f"{where}: the type must be a BigQuery type name")
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|<|>|,|\S", text)
    parsed, rest = _parse_type_tokens(tokens, where, 0)
    if rest:
        raise ValidationFailed(f"{where}: unexpected {' '.join(rest[:3])!r} in type {text!r}")
    return parsed


def _parse_type_tokens(tokens: list[str], where: str, depth: int) -> tuple[BqType, list[str]]:
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"{where}: types nest deeper than {MAX_DEPTH} levels")
    if not tokens:
        raise ValidationFailed(f"{where}: a type is missing")
    kind = canonical_kind(tokens[0], where)
    rest = tokens[1:]
    if kind == "ARRAY":
        rest = _expect(rest, "<", where)
        item, rest = _parse_type_tokens(rest, where, depth + 1)
        if item.kind == "ARRAY":
            raise ValidationFailed(f"{where}: BigQuery has no ARRAY of ARRAY")
        return BqType("ARRAY", item=item), _expect(rest, ">", where)
    if kind == "STRUCT":
        rest = _expect(rest, "<", where)
        fields: list[tuple[str, BqType]] = []
        while True:
            if not rest or not NAME.fullmatch(rest[0]):
                raise ValidationFailed(f"{where}: a STRUCT field needs a name and a type")
            name = rest[0]
            field, rest = _parse_type_tokens(rest[1:], f"{where}.{name}", depth + 1)
            fields.append((name, field))
            if rest[:1] == [","]:
                rest = rest[1:]
                continue
            break
        check_unique([name for name, _ in fields], where)
        return BqType("STRUCT", fields=tuple(fields)), _expect(rest, ">", where)
    return BqType(kind), rest


def canonical_kind(word: str, where: str) -> str:
    kind = _ALIASES.get(word.upper(), word.upper())
    if kind not in SCALARS and kind not in ("ARRAY", "STRUCT"):
        raise ValidationFailed(f"{where}: unsupported parameter type {word!r}")
    return kind


def _expect(tokens: list[str], token: str, where: str) -> list[str]:
    if tokens[:1] != [token]:
        raise ValidationFailed(f"{where}: expected {token!r} in the type")
    return tokens[1:]


def check_unique(names: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise ValidationFailed(f"{where}: the name {name!r} appears twice")
        seen.add(name.lower())


# -- the engines' types for a parameter (their placeholders declare it) -------------------------------------------

_DUCKDB_TYPES = {
    "INT64": "BIGINT", "FLOAT64": "DOUBLE", "NUMERIC": "DECIMAL(38, 9)", "BIGNUMERIC": "DECIMAL(38, 19)",
    "BOOL": "BOOLEAN", "STRING": "VARCHAR", "BYTES": "BLOB", "DATE": "DATE", "DATETIME": "TIMESTAMP", "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMPTZ", "JSON": "JSON",
}
_CLICKHOUSE_TYPES = {
    "INT64": "Int64", "FLOAT64": "Float64", "NUMERIC": "Decimal(38, 9)", "BIGNUMERIC": "Decimal(76, 38)",
    "BOOL": "Bool", "STRING": "String", "BYTES": "String", "DATE": "Date32", "DATETIME": "DateTime64(6, 'UTC')",
    "TIME": "Time64(6)", "TIMESTAMP": "DateTime64(6, 'UTC')", "JSON": "String",
}


def duckdb_type(typ: BqType) -> str:
    if typ.kind == "ARRAY":
        assert typ.item is not None
        return f"{duckdb_type(typ.item)}[]"
    if typ.kind == "STRUCT":
        return "STRUCT(" + ", ".join(f'"{name}" {duckdb_type(field)}' for name, field in typ.fields) + ")"
    return _DUCKDB_TYPES[typ.kind]


def clickhouse_type(typ: BqType, *, nullable: bool = True) -> str:
    """Scalars and structs are Nullable by default (a parameter may be NULL); arrays cannot be, nor can what they
    hold in BigQuery."""
    if typ.kind == "ARRAY":
        assert typ.item is not None
        return f"Array({clickhouse_type(typ.item, nullable=False)})"
    if typ.kind == "STRUCT":
        inner = "Tuple(" + ", ".join(f"{name} {clickhouse_type(field)}" for name, field in typ.fields) + ")"
    else:
        inner = _CLICKHOUSE_TYPES[typ.kind]
    return f"Nullable({inner})" if nullable else inner
