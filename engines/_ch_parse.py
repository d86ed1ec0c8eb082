"""ClickHouse statements as ClickHouse's own parser sees them, for the sandbox policy.

``formatQuery`` gives the statement's canonical text (the SQL travels as a bound parameter, so none of it runs) and
``EXPLAIN AST`` its syntax tree: the statement class, and every function, table function and engine it names.
Clauses the tree does not show by name (``INTO OUTFILE``, ``SETTINGS`` pairs) are read from the canonical text,
with string literals blanked out first so that nothing quoted can look like a keyword.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engines.base import Statement
from engines.errors import StatementUnreadable

# Runs one statement with optional bound parameters and returns its rows.
Query = Callable[[str, dict[str, Any] | None], list[tuple]]

_READ_CLASSES = ("Select", "Show", "Describe", "Explain", "Exists", "Check")
_CLAUSES = {
    "INTO OUTFILE": re.compile(r"\bINTO\s+OUTFILE\b", re.I),
    "FROM INFILE": re.compile(r"\bFROM\s+INFILE\b", re.I),
    "INTO FUNCTION": re.compile(r"\bINTO\s+(?:TABLE\s+)?FUNCTION\b", re.I),
}
_FILE_CLAUSES = {"INTO OUTFILE", "FROM INFILE"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'")
_SETTING = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.|'')*'|[^,\s()]+(?:\([^)]*\))?)\s*(,?)")
_CTE = re.compile(r"(?:\bWITH|,)\s+`?([A-Za-z_][A-Za-z0-9_]*)`?\s+AS\s*\(", re.I)
_OPERATIONS = {"InsertQuery": "insert", "CreateQuery": "create", "DropQuery": "drop", "AlterQuery": "alter",
               "TruncateQuery": "truncate", "DeleteQuery": "delete", "UpdateQuery": "update", "Rename": "rename",
               "OptimizeQuery": "alter", "DetachQuery": "drop", "AttachQuery": "create", "UndropQuery": "create"}
_TREE_TABLE = re.compile(r"\btable_name: (\S+)")
_VIEW_TARGET = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?MATERIALIZED\s+VIEW\s+.*?\bTO\s+"
                          r"((?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)(?:\.(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*))?)", re.I | re.S)
_CHILDREN = re.compile(r"\s*\(children \d+\)\s*$")
_INSERT_TARGET = re.compile(r"^\s*INSERT\s+INTO\s+(?:TABLE\s+)?((?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)"
                            r"(?:\.(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*))?)", re.I)
_TREE_FUNCTION = re.compile(r"^(\s*)(?:Function|FunctionWithKeyValueArguments)\s+(\S+)")


def parse(query: Query, sql: str) -> Statement:
    """The one statement in ``sql`` (ClickHouse refuses multi-statement text); raises the driver's error when the
    text does not parse, and ``StatementUnreadable`` when it parses but its tree cannot be read."""
    text = str(query("SELECT formatQuery({sql:String})", {"sql": sql})[0][0])
    bare = _STRING.sub(lambda m: "'" + " " * (len(m.group(0)) - 2) + "'", text)
    words = tuple(word.upper() for word in _WORD.findall(bare)[:8])
    clauses = tuple(name for name, pattern in _CLAUSES.items() if pattern.search(bare))
    settings = _settings(text, bare)
    calls = {name.lower() for name in _CALL.findall(bare)}
    if _FILE_CLAUSES & set(clauses):
        # Refused whatever the tree says: do not hand a statement that writes or reads files to the server at all.
        return Statement(kind=words[0] if words else "", text=text, words=words, functions=tuple(sorted(calls)),
                         clauses=clauses, settings=settings, reads_only=False)
    try:
        tree = [str(row[0]) for row in query("EXPLAIN AST " + text, None)]
    except Exception as exc:  # it parsed above, so this is no syntax error: whatever it is, it is not judged safe
        raise StatementUnreadable(f"ClickHouse parsed the statement but would not show its syntax tree: {exc}") from exc
    kind = tree[0].split()[0] if tree else ""
    functions, storage = _tree_functions(tree)
    if any(line.strip().startswith("Dictionary definition") for line in tree):
        clauses += ("DICTIONARY",)
    tables = tuple(dict.fromkeys(line.split()[1] for line in tree
                                 if line.strip().startswith("TableIdentifier ") and len(line.split()) > 1))
    read_tables = _read_tables(query, text, bare, tables)
    operation, targets = _writes(kind, words, tree, bare)
    return Statement(kind=kind, text=text, words=words, functions=tuple(sorted(calls | functions)),
                     storage=storage, tables=tables, clauses=clauses, settings=settings,
                     reads_only=kind.startswith(_READ_CLASSES), read_tables=read_tables, operation=operation,
                     targets=targets)


def _read_tables(query: Query, text: str, bare: str, tables: tuple[str, ...]) -> tuple[str, ...]:
    """The tables the tree names, less its CTE names. A CTE's scope is not in the tree, so when a name could be
    either, the analyzer's query tree (names resolved, CTEs inlined) decides; if it cannot, every name counts."""
    ctes = {name.lower() for name in _CTE.findall(bare)}
    ambiguous = [name for name in tables if "." not in name and name.lower() in ctes]
    if not ambiguous:
        return tables
    try:
        rows = query("EXPLAIN QUERY TREE " + text, None)
    except Exception:  # no tree: a CTE name counts as a table, which can only refuse more
        return tables
    resolved = {match.group(1) for (line, *_) in rows for match in [_TREE_TABLE.search(str(line))] if match}
    return tuple(dict.fromkeys([name for name in tables if name not in ambiguous]
                               + sorted(resolved - {"system.one"})))


def _writes(kind: str, words: tuple[str, ...], tree: list[str], bare: str) -> tuple[str, tuple[str, ...]]:
    """(operation, targets): the names come from the root line ("DropQuery db table"), or for an INSERT (whose root
    line names nothing) from its canonical text. The root's direct ``Identifier`` children are not used for single
    names: the trailing one is the output format (``Native``), not a table."""
    operation = _OPERATIONS.get(kind, "")
    if not operation:
        return "", ()
    if kind == "AlterQuery":
        commands = {line.split()[1] for line in tree if line.strip().startswith("AlterCommand ")}
        if commands and commands <= {"UPDATE", "DELETE"}:
            operation = "update" if "UPDATE" in commands else "delete"
    if kind == "Rename":
        names = [line.strip()[len("Identifier "):] for line in tree[1:]
                 if line.startswith(" Identifier ") and not line.startswith("  ")]
        if len(names) >= 4:   # pairs of database and table, then the output format
            return "rename", tuple(f"{names[i]}.{names[i + 1]}" for i in range(0, len(names) - 1, 2))
        return "rename", tuple(names[:-1] or names)
    if kind == "InsertQuery":
        match = _INSERT_TARGET.search(bare)
        return operation, (match.group(1),) if match else ()
    root = _CHILDREN.sub("", tree[0])[len(kind) + 1:] if tree else ""
    database, _, table = root.partition(" ")
    if "DATABASE" in words[:4] or "SCHEMA" in words[:4]:
        if kind in {"CreateQuery", "DropQuery"} and not table:
            return {"CreateQuery": "create_database", "DropQuery": "drop_database"}[kind], (database,)
    targets = (f"{database}.{table}",) if database and table else tuple(name for name in (table or database,) if name)
    if kind == "CreateQuery" and (into := _VIEW_TARGET.search(bare)):
        targets += (into.group(1),)     # a materialized view writes into its TO table
    return operation, targets


def _tree_functions(tree: list[str]) -> tuple[set[str], tuple[str, ...]]:
    """Every function the tree names, and the engines declared under a ``Storage definition``: the definition's
    first function is its engine; later ones are ORDER BY / PARTITION BY expressions (``ORDER BY tuple()``)."""
    functions: set[str] = set()
    storage: list[str] = []
    storage_depth: int | None = None
    for line in tree:
        depth = len(line) - len(line.lstrip())
        if storage_depth is not None and depth <= storage_depth:
            storage_depth = None
        if line.strip().startswith("Storage definition"):
            storage_depth = depth
            continue
        match = _TREE_FUNCTION.match(line)
        if match:
            name = match.group(2)
            functions.add(name.lower())
            if storage_depth is not None and depth == storage_depth + 1:
                storage.append(name)
                storage_depth = None
    return functions, tuple(storage)


def _settings(text: str, bare: str) -> tuple[tuple[str, str], ...]:
    """``name = value`` pairs of every SETTINGS clause, values as written (strings keep their quotes)."""
    pairs = []
    for keyword in re.finditer(r"\bSETTINGS\b", bare):
        position = keyword.end()
        while True:
            match = _SETTING.match(text, position)
            if not match:
                break
            pairs.append((match.group(1), match.group(2)))
            position = match.end()
            if not match.group(3):
                break
    return tuple(pairs)
