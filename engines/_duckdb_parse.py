"""DuckDB statements as DuckDB's own parser sees them: ``extract_statements`` for the statements and their types,
``tokenize`` for the functions they call, ``get_table_names`` for the tables they name. Nothing here binds or runs.
"""

from __future__ import annotations

import json

import duckdb

from engines import _duckdb_access
from engines.base import Statement

# Statement types that only read (DuckDB reports DESCRIBE, SHOW and SUMMARIZE as SELECT too).
_READ_KINDS = {"SELECT", "EXPLAIN", "PRAGMA", "CALL"}
_NAME_TOKENS = {duckdb.token_type.identifier, duckdb.token_type.keyword}
_LEADING_WORDS = 8


def parse(con: duckdb.DuckDBPyConnection, sql: str) -> list[Statement]:
    """Every statement in ``sql``; raises ``duckdb.Error`` when the text does not parse."""
    return [_describe(con, statement) for statement in con.extract_statements(sql)]


def _describe(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> Statement:
    text = statement.query
    try:
        kind = statement.type.name
    except ValueError:          # a statement type newer than the Python enum (e.g. UPDATE EXTENSIONS)
        kind = "UNKNOWN"
    tokens = _tokens(text)
    words = tuple(_unquote(word).upper() for word, token in tokens if token in _NAME_TOKENS)[:_LEADING_WORDS]
    functions = tuple(dict.fromkeys(
        _unquote(word).lower() for (word, token), (following, _) in zip(tokens, tokens[1:], strict=False)
        if token in _NAME_TOKENS and following == "("))
    try:
        tables = tuple(sorted(con.get_table_names(text)))
    except duckdb.Error:
        tables = ()
    operation, targets = _duckdb_access.writes(kind, tokens)
    return Statement(kind=kind, text=text, words=words, functions=functions, tables=tables,
                     reads_only=kind in _READ_KINDS, read_tables=_read_tables(con, kind, text, tokens),
                     operation=operation, targets=targets)


def _read_tables(con: duckdb.DuckDBPyConnection, kind: str, text: str,
                 tokens: list[tuple[str, duckdb.token_type]]) -> tuple[str, ...]:
    """Tables the statement reads, qualified as written: the parser's own names for a SELECT (views unexpanded),
    and the binder's ``get_table_names`` (views expanded) for everything it can bind; the tokens after FROM and
    JOIN when it cannot (it binds some statements, and fails on a table that does not exist)."""
    names: set[str] = set()
    if kind == "SELECT":
        try:
            tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [text]).fetchone()[0])
            if not tree.get("error"):
                names |= _duckdb_access.tree_tables(tree)
        except (duckdb.Error, ValueError, TypeError):
            pass
    try:
        names |= set(con.get_table_names(text, qualified=True))
    except duckdb.Error:
        names |= _duckdb_access.token_tables(tokens)
    return tuple(sorted(names))


def _tokens(text: str) -> list[tuple[str, duckdb.token_type]]:
    """(text, type) of each token, comments dropped. ``tokenize`` gives only start offsets; a token ends where the
    next one starts, less the whitespace between them."""
    marks = duckdb.tokenize(text)
    tokens = []
    for index, (start, token) in enumerate(marks):
        if token == duckdb.token_type.comment:
            continue
        end = marks[index + 1][0] if index + 1 < len(marks) else len(text)
        tokens.append((text[start:end].strip(), token))
    return tokens


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] == '"':
        return word[1:-1].replace('""', '"')
    return word
