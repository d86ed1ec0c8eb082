"""DuckDB statements as DuckDB's own parser sees them: ``extract_statements`` for the statements and their types,
``tokenize`` for the functions they call, ``get_table_names`` for the tables they name. Nothing here binds or runs.
"""

from __future__ import annotations

import duckdb

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
    return Statement(kind=kind, text=text, words=words, functions=functions, tables=tables,
                     reads_only=kind in _READ_KINDS)


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
