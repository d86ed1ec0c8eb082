"""ClickHouse's own ``Protobuf`` input format reading a body file on this machine, for ``Engine.read_protobuf``.

Only embedded chdb can do it: ``file()`` reads the app's own files, which a server cannot see. The SQL is the app's,
never user SQL (``file()`` is refused to user SQL), so it runs on a decode client outside the pool
(``ClickHouseEngine.stream_internal``).

The caller describes the rows (``engines.protobuf_read``); this module renders that description. Every field is read
into a ClickHouse type the format accepts, then converted in the SELECT:
- enums are read as their Int32 number and labelled with ``transform``: unknown numbers survive as their decimal
  string (an Enum/String column would reject them);
- (seconds, nanos) messages are read as ``Tuple(seconds, nanos)`` and become Int64 microseconds;
- wrapped values are ``Nullable(Tuple(value))`` unwrapped; messages are ``Nullable(Tuple)``; repeated is ``Array``;
- bytes travel as hex (the client shows a non-UTF-8 String as hex digits, which is ambiguous) and become bytes
  again in ``_ch_protobuf_arrow``;
- maps are sorted by key, so the order of entries does not depend on the wire.
A row that breaks a rule of the description fails the query through ``throwIf``, with the caller's message.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from engines._ch_plan import literal as _literal
from engines._ddl_clickhouse import quote as _quote
from engines.errors import EngineQueryError
from engines.protobuf_read import (
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

_GLOB = re.compile(r"[*?{}]")          # file() expands these in paths
_SCALARS = {
    "bool": "Bool", "int32": "Int32", "int64": "Int64", "uint32": "UInt32", "uint64": "UInt64",
    "float32": "Float32", "float64": "Float64", "string": "String", "binary": "String",
}
_lambda_ids = itertools.count(1)       # lambda parameters get unique names, so nested ones never shadow each other

SQL = Callable[[str], str]


@dataclass(frozen=True)
class _Node:
    read: str                 # ClickHouse type the Protobuf format reads the field into
    out: str                  # ClickHouse type of the converted value
    convert: SQL | None       # read value -> output value; None when the read value is the output
    check: SQL | None         # read value -> UInt8, 0 when the row breaks a rule of the description


def read_sql(read: ProtobufRead) -> str:
    """The SELECT that decodes ``read.body``; ``EngineQueryError`` for a path ``file()`` would expand or a
    description with nothing to read."""
    if _GLOB.search(str(read.body)) or _GLOB.search(str(read.schema_file)):
        raise EngineQueryError("the body or schema path has characters file() expands ('*', '?', '{', '}')")
    structure, select, checks = _columns(read.fields, read.exclusive)
    fmt = "Protobuf" if read.delimited else "ProtobufSingle"
    # Checks run in the inner query, where names are the read columns (outside, the converted aliases shadow them).
    source = (f"SELECT * FROM file({_literal(str(read.body))}, {_literal(fmt)}, "
              f"{_literal(', '.join(structure))}, 'none')")
    if checks:
        source += f" WHERE throwIf(NOT ({' AND '.join(checks)}), {_literal(read.rejected)}) = 0"
    # One stream keeps rows in body order (a resize after the reader could interleave blocks); the Protobuf reader
    # is single-threaded anyway, so this costs nothing.
    return (f"SELECT {', '.join(select)} FROM ({source}) SETTINGS format_schema = "
            f"{_literal(f'{read.schema_file}:{read.message}')}, max_threads = 1, "
            "parallelize_output_from_storages = 0, storage_file_read_method = 'pread'")


def _columns(fields: tuple[ReadField, ...],
             exclusive: tuple[tuple[str, ...], ...]) -> tuple[list[str], list[str], list[str]]:
    """The columns read, the SELECT list and the row checks."""
    structure, select, checks = [], [], []
    for field in fields:
        name = _quote(field.name)
        if isinstance(field.value, WhichOf):
            select.append(f"{_which(field.value, _quote)} AS {name}")
            continue
        node = _node(field.value, field.nullable)
        structure.append(f"{name} {node.read}")
        select.append(f"{node.convert(name)} AS {name}" if node.convert else name)
        if node.check:
            checks.append(node.check(name))
    checks += _exclusive_checks(exclusive, _quote)
    if not structure:
        raise EngineQueryError("a Protobuf read needs at least one field that is read from the body")
    return structure, select, checks


def _which(which: WhichOf, ref: SQL) -> str:
    if not which.members:
        raise EngineQueryError("WhichOf needs at least one member")
    branches = [f"isNotNull({ref(name)}), {_literal(name)}" for name in which.members]
    return f"CAST(multiIf({', '.join(branches)}, NULL), 'Nullable(String)')"


def _exclusive_checks(groups: tuple[tuple[str, ...], ...], ref: SQL) -> list[str]:
    return [f"({' + '.join(f'isNotNull({ref(n)})' for n in names)}) <= 1" for names in groups if len(names) > 1]


def _node(value: ReadValue, nullable: bool) -> _Node:
    """How ``value`` is read and converted; lists and maps cannot be Nullable in ClickHouse (absent is empty)."""
    def wrap(t: str) -> str:
        return f"Nullable({t})" if nullable else t

    if isinstance(value, ReadList):
        return _list(_node(value.item, False))
    if isinstance(value, ReadMap):
        return _map(_node(value.key, False), _node(value.value, False))
    if isinstance(value, ReadStruct):
        return _struct(value, nullable)
    if isinstance(value, ReadTime):
        return _time(value, wrap)
    if isinstance(value, ReadEnum):
        numbers = ", ".join(str(number) for number, _ in value.labels)
        names = ", ".join(_literal(label) for _, label in value.labels)
        return _Node(wrap("Int32"), wrap("String"),
                     lambda e: f"transform({e}, CAST([{numbers}], 'Array(Int32)'), [{names}], toString({e}))", None)
    if isinstance(value, ReadScalar) and value.kind in _SCALARS:
        return _scalar(value, wrap)
    raise EngineQueryError(f"ClickHouse's Protobuf reader cannot read {value!r}")


def _scalar(value: ReadScalar, wrap: Callable[[str], str]) -> _Node:
    ch = _SCALARS[value.kind]
    convert = (lambda e: f"hex({e})") if value.kind == "binary" else None
    check = (lambda e: f"ifNull(isValidUTF8({e}), 1)") if value.kind == "string" else None
    if not value.wrapped:
        return _Node(wrap(ch), wrap(ch), convert, check)

    def unwrap(e: str) -> str:
        return f"tupleElement({e}, 'value')"

    return _Node(wrap(f"Tuple(value {ch})"), wrap(ch), (lambda e: convert(unwrap(e))) if convert else unwrap,
                 (lambda e: check(unwrap(e))) if check else None)


def _time(value: ReadTime, wrap: Callable[[str], str]) -> _Node:
    def parts(e: str) -> tuple[str, str]:
        return f"tupleElement({e}, 'seconds')", f"tupleElement({e}, 'nanos')"

    def convert(e: str) -> str:
        # intDiv truncates toward zero, as the description says.
        seconds, nanos = parts(e)
        return f"{seconds} * 1000000 + intDiv({nanos}, 1000)"

    def check(e: str) -> str:
        seconds, nanos = parts(e)
        ok = (f"{seconds} BETWEEN {value.seconds[0]} AND {value.seconds[1]} "
              f"AND {nanos} BETWEEN {value.nanos[0]} AND {value.nanos[1]}")
        if value.same_sign:
            ok += f" AND NOT ({seconds} > 0 AND {nanos} < 0) AND NOT ({seconds} < 0 AND {nanos} > 0)"
        return f"ifNull({ok}, 1)"

    return _Node(wrap("Tuple(seconds Int64, nanos Int32)"), wrap("Int64"), convert, check)


def _struct(value: ReadStruct, nullable: bool) -> _Node:
    nodes = {f.name: _node(f.value, f.nullable) for f in value.fields if not isinstance(f.value, WhichOf)}
    if not nodes:
        raise EngineQueryError("a struct needs at least one field that is read from the body")
    read = f"Tuple({', '.join(f'{_quote(n)} {node.read}' for n, node in nodes.items())})"
    outs = [nodes[f.name].out if f.name in nodes else "Nullable(String)" for f in value.fields]   # WhichOf: String
    out = f"Tuple({', '.join(f'{_quote(f.name)} {t}' for f, t in zip(value.fields, outs, strict=True))})"
    checked = [(n, node.check) for n, node in nodes.items() if node.check]

    def element(e: str) -> SQL:
        return lambda name: f"tupleElement({e}, {_literal(name)})"

    def convert(e: str) -> str:
        ref = element(f"assumeNotNull({e})" if nullable else e)
        parts = []
        for field in value.fields:
            node = nodes.get(field.name)
            if isinstance(field.value, WhichOf):
                parts.append(_which(field.value, ref))
            else:
                parts.append(node.convert(ref(field.name)) if node.convert else ref(field.name))
        built = f"CAST(tuple({', '.join(parts)}), {_literal(out)})"
        return f"if(isNull({e}), NULL, {built})" if nullable else built

    def check(e: str) -> str:
        ref = element(e)
        return f"ifNull({' AND '.join([c(ref(n)) for n, c in checked] + _exclusive_checks(value.exclusive, ref))}, 1)"

    needs_convert = any(node.convert for node in nodes.values()) or len(nodes) != len(value.fields)
    needs_check = bool(checked or _exclusive_checks(value.exclusive, str))
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

