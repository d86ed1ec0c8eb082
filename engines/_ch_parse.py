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
    return Statement(kind=kind, text=text, words=words, functions=tuple(sorted(calls | functions)),
                     storage=storage, tables=tables, clauses=clauses, settings=settings,
                     reads_only=kind.startswith(_READ_CLASSES))


def _tree_functions(tree: list[str]) -> tuple[set[str], tuple[str, ...]]:
    """Every function the tree names, and the engines declared under a ``Storage definition``."""
    functions: set[str] = set()
    storage: list[str] = []
    storage_depth: int | None = None
    for line in tree:
        depth = len(line) - len(line.lstrip())
        if line.strip().startswith("Storage definition"):
            storage_depth = depth
            continue
        match = _TREE_FUNCTION.match(line)
        if match:
            name = match.group(2)
            functions.add(name.lower())
            if storage_depth is not None and depth == storage_depth + 1:
                storage.append(name)
        if storage_depth is not None and depth <= storage_depth:
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
