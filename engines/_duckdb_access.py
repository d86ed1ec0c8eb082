"""What a DuckDB statement reads and writes, for access checks: from DuckDB's own parse tree (``json_serialize_sql``)
and tokenizer. Names stay as written (``schema.table``, quoted parts keep their quotes); nothing here binds or runs.
"""

from __future__ import annotations

from typing import Any

import duckdb

Tokens = list[tuple[str, duckdb.token_type]]

_NAME_TOKENS = {duckdb.token_type.identifier, duckdb.token_type.keyword}
# Words that may come between a statement's verb and the name of what it writes.
_MODIFIERS = {"OR", "REPLACE", "IGNORE", "TEMP", "TEMPORARY", "PERSISTENT", "IF", "NOT", "EXISTS", "UNIQUE",
              "TABLE", "VIEW", "SCHEMA", "DATABASE", "INTO", "FROM", "MACRO", "FUNCTION", "SEQUENCE", "TYPE",
              "INDEX", "ONLY", "MATERIALIZED"}
_OPERATIONS = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete", "DROP": "drop", "ALTER": "alter",
               "CREATE": "create", "TRUNCATE": "truncate", "COPY": "insert", "MERGE": "update"}


def tree_tables(tree: Any) -> set[str]:
    """Every base table a serialized SELECT names, qualified as written, without its CTE names."""
    found: list[tuple[str, str, str]] = []
    ctes: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and "table_name" in node:
                found.append((node.get("catalog_name") or "", node.get("schema_name") or "", node["table_name"]))
            cte_map = node.get("cte_map")
            if isinstance(cte_map, dict):
                ctes.update(str(entry.get("key", "")).lower() for entry in cte_map.get("map", [])
                            if isinstance(entry, dict))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return {".".join(_quote(part) for part in parts if part) for parts in found
            if parts[0] or parts[1] or parts[2].lower() not in ctes}


def token_tables(tokens: Tokens) -> set[str]:
    """Dotted names after FROM, JOIN and USING, for statements the binder will not describe (a missing table)."""
    ctes = {_unquote(tokens[i][0]).lower() for i in range(len(tokens) - 2)
            if tokens[i][1] in _NAME_TOKENS and tokens[i + 1][0].upper() == "AS" and tokens[i + 2][0] == "("}
    names = set()
    for index, (word, _) in enumerate(tokens):
        if word.upper() in {"FROM", "JOIN", "USING"}:
            name = _dotted(tokens, index + 1)
            if name and not (name.count(".") == 0 and _unquote(name).lower() in ctes):
                names.add(name)
    return names


def writes(kind: str, tokens: Tokens) -> tuple[str, tuple[str, ...]]:
    """(operation, targets) of a statement that changes something; ("", ()) for one that only reads."""
    tokens = _main_statement(tokens)
    words = [word.upper() for word, token in tokens if token in _NAME_TOKENS]
    if not words:
        return "", ()
    verb = words[0]
    if kind == "COPY":
        # COPY t FROM ... writes t; COPY t TO ... only reads it (the sandbox judges the files).
        if "FROM" not in words[1:4]:
            return "", ()
    operation = _OPERATIONS.get(verb, "")
    if not operation:
        return "", ()
    head = words[1:6]
    if verb in {"CREATE", "DROP", "ALTER"} and ("SCHEMA" in head or "DATABASE" in head) \
            and "TABLE" not in head and "VIEW" not in head:
        operation = {"CREATE": "create_database", "DROP": "drop_database", "ALTER": "alter_database"}[verb]
    start = 1
    if verb == "CREATE" and "INDEX" in head:
        start = next((i + 1 for i, (w, _) in enumerate(tokens) if w.upper() == "ON"), len(tokens))
        return operation, _one(_dotted(tokens, start))
    while start < len(tokens) and tokens[start][0].upper() in _MODIFIERS:
        start += 1
    target = _dotted(tokens, start)
    if verb == "ALTER" and "RENAME" in words:
        operation = "alter"
    return operation, _one(target)


def _main_statement(tokens: Tokens) -> Tokens:
    """The tokens from the statement's verb on: ``WITH c AS (...) INSERT INTO t ...`` writes ``t``."""
    if not tokens or tokens[0][0].upper() != "WITH":
        return tokens
    depth = 0
    for index, (word, token) in enumerate(tokens):
        depth += word.count("(") - word.count(")") if token == duckdb.token_type.operator else 0
        if depth == 0 and token == duckdb.token_type.keyword and word.upper() in {"INSERT", "UPDATE", "DELETE",
                                                                                  "SELECT", "MERGE"}:
            return tokens[index:]
    return tokens


def _one(name: str | None) -> tuple[str, ...]:
    return (name,) if name else ()


def _dotted(tokens: Tokens, start: int) -> str | None:
    """The (possibly qualified) name starting at ``tokens[start]``, as written."""
    parts: list[str] = []
    index = start
    while index < len(tokens) and tokens[index][1] in _NAME_TOKENS and tokens[index][0] not in {"(", ","}:
        parts.append(tokens[index][0])
        if index + 1 < len(tokens) and tokens[index + 1][0] == ".":
            index += 2
            continue
        break
    return ".".join(parts) if parts else None


def _quote(part: str) -> str:
    return '"' + part.replace('"', '""') + '"' if "." in part else part


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] == '"':
        return word[1:-1].replace('""', '"')
    return word
