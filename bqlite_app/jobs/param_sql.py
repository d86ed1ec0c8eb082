"""``@name`` query parameters in native SQL -> the engine's own typed placeholders (values are never pasted in).

BigQuery writes a named parameter as ``@name``; DuckDB binds ``$name`` and ClickHouse ``{name:Type}``. ``bind_sql``
rewrites each ``@name`` of a job's native SQL into the engine's placeholder with the type the parameter declares:
``(CAST($name AS BIGINT))`` on DuckDB, ``{name:Int64}`` on ClickHouse (``Nullable(...)`` when the value is NULL). The
engine then binds the decoded values (``params.decode_parameters``) as it already does for ``$name`` / ``{name:T}``,
which keep working when written by hand.

The scanner knows each engine's lexical rules, so an ``@`` inside a string, a quoted identifier, a comment or a
dollar-quoted string is text, not a parameter. ``@`` followed by anything but a letter or ``_`` (DuckDB's ``@ x``
and ``@-5`` are ``abs``), or written as part of an operator (``<@``, ``^@``, ``@>``), is left alone. An ``@name`` no
parameter declares is ``ValidationFailed`` ("Query parameter 'x' not found at [line:col]"), as in BigQuery: the text
never reaches an engine that would read it as something else. Names match case-insensitively, as in BigQuery.

The BigQuery face (``bigquery/sql.py``) translates its own ``@name`` with sqlglot before submitting, so the SQL it
submits holds no ``@name`` and passes through here unchanged.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bqlite_app.errors import ValidationFailed
from bqlite_app.jobs.param_types import BqType, clickhouse_type, duckdb_type, parse_type

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
# ``@`` right after one of these is part of an operator: DuckDB's ``<@`` (contained by), ``^@`` (starts with).
_OPERATOR_BEFORE = frozenset("<^@")


@dataclass(frozen=True)
class ParameterUse:
    name: str       # as written
    start: int      # 0-based offset of the ``@``
    end: int        # 0-based offset just past the name


@dataclass(frozen=True)
class BoundSql:
    """The engine's SQL, and how to map a position the engine reports in it back onto the text the user wrote."""

    text: str
    # (engine offset where a replacement starts, its length in the engine's text, its length in the user's text)
    _edits: tuple[tuple[int, int, int], ...] = ()

    def user_position(self, position: int | None) -> int | None:
        """A 1-based character offset into ``text`` -> the same place in the user's SQL (inside a replacement: its
        ``@``)."""
        if position is None or not self._edits:
            return position
        index = bisect_right([start for start, _, _ in self._edits], position - 1)
        shift = 0
        for start, engine_len, user_len in self._edits[:index]:
            if position - 1 < start + engine_len:
                return start - shift + 1
            shift += engine_len - user_len
        return position - shift


def find_parameters(sql: str, engine: str) -> list[ParameterUse]:
    """Every ``@name`` in ``sql`` outside strings, quoted identifiers and comments, in text order."""
    return list(_scan(sql, engine))


def parameter_names(sql: str, engine: str) -> list[str]:
    """The distinct ``@names`` of ``sql`` (the first spelling of each, compared case-insensitively), in order."""
    seen: dict[str, str] = {}
    for use in _scan(sql, engine):
        seen.setdefault(use.name.lower(), use.name)
    return list(seen.values())


def bind_sql(sql: str, engine: str, parameters: Sequence[Mapping[str, Any]] = ()) -> BoundSql:
    """``sql`` with each ``@name`` replaced by ``engine``'s placeholder for the declared parameter.

    ``parameters`` is the job's stored list (``[{"name", "type", "value"}]``, checked by ``params.check_parameters``).
    """
    if "@" not in sql:
        return BoundSql(sql)
    declared: dict[str, tuple[str, BqType, bool]] = {}
    for parameter in parameters:
        name = str(parameter["name"])
        declared[name.lower()] = (name, parse_type(parameter["type"], where=f"parameter @{name}"),
                                  parameter.get("value") is None)
    out: list[str] = []
    edits: list[tuple[int, int, int]] = []
    last = length = 0
    for use in _scan(sql, engine):
        found = declared.get(use.name.lower())
        if found is None:
            line, column = _line_and_column(sql, use.start)
            raise ValidationFailed(f"Query parameter '{use.name}' not found at [{line}:{column}]")
        placeholder = _placeholder(engine, *found)
        out.append(sql[last:use.start])
        length += use.start - last
        edits.append((length, len(placeholder), use.end - use.start))
        out.append(placeholder)
        length += len(placeholder)
        last = use.end
    if not edits:
        return BoundSql(sql)
    out.append(sql[last:])
    return BoundSql("".join(out), tuple(edits))


def _placeholder(engine: str, name: str, typ: BqType, is_null: bool) -> str:
    if engine == "clickhouse":
        # Not Nullable when a value is given: LIMIT, arrayJoin and friends refuse a Nullable argument.
        return "{" + name + ":" + clickhouse_type(typ, nullable=is_null and typ.kind != "ARRAY") + "}"
    # In parentheses, so the placeholder is one operand anywhere an expression goes (INTERVAL (...) DAY, (...).f).
    return f"(CAST(${name} AS {duckdb_type(typ)}))"


def _line_and_column(sql: str, offset: int) -> tuple[int, int]:
    line = sql.count("\n", 0, offset) + 1
    return line, offset - (sql.rfind("\n", 0, offset) + 1) + 1


# -- the scanner -----------------------------------------------------------------------------------------------


def _scan(sql: str, engine: str) -> Iterator[ParameterUse]:
    if "@" not in sql:
        return
    clickhouse = engine == "clickhouse"
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'":
            backslash = clickhouse or (i > 0 and sql[i - 1] in "eE" and (i < 2 or sql[i - 2] not in _IDENT_CHARS))
            i = _skip_quoted(sql, i, "'", backslash)
        elif c == '"' or (c == "`" and clickhouse):
            i = _skip_quoted(sql, i, c, clickhouse)
        elif c == "-" and sql.startswith("--", i) or (c == "#" and clickhouse):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
        elif c == "$" and (i == 0 or sql[i - 1] not in _IDENT_CHARS) and (tag := _DOLLAR_TAG.match(sql, i)):
            end = sql.find(tag.group(), tag.end())
            i = n if end < 0 else end + len(tag.group())
        elif c == "@":
            name = _NAME.match(sql, i + 1)
            before = sql[i - 1] if i > 0 else ""
            if name and before not in _OPERATOR_BEFORE and before not in _IDENT_CHARS:
                yield ParameterUse(name.group(), i, name.end())
                i = name.end()
            else:
                i += 1
        elif c in _IDENT_CHARS:
            # A whole word at once: ``e'...'`` is told from ``some'...'`` by the character before the quote.
            while i < n and sql[i] in _IDENT_CHARS:
                i += 1
        else:
            i += 1


def _skip_quoted(sql: str, start: int, quote: str, backslash: bool) -> int:
    """Past the closing quote of the literal or identifier opening at ``start`` (a doubled quote is one quote)."""
    i, n = start + 1, len(sql)
    while i < n:
        c = sql[i]
        if backslash and c == "\\":
            i += 2
        elif c == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return n


def _skip_block_comment(sql: str, start: int) -> int:
    """Past the ``*/`` closing the comment at ``start``; both engines nest ``/* /* */ */``."""
    depth, i, n = 0, start, len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n
