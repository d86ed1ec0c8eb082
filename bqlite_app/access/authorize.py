"""Which datasets a statement touches, and whether its caller may (docs/api.md, "What each needs").

The tables come from the engine's own parser (``Engine.parse``: DuckDB's parse tree and ``get_table_names``,
ClickHouse's ``EXPLAIN AST``), resolved to datasets: unqualified names are in the dataset ``default``. Views are
expanded through the engine's catalog, recursively, so reading a view needs ``reader`` on the view's dataset and on
every dataset its tables live in. The check runs before a job exists; a refusal names the dataset and the role.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from bqlite_app.access.audit import AuditLog
from bqlite_app.access.grants import Grants
from bqlite_app.access.principal import DatasetRole, Principal, role_at_least
from bqlite_app.datasets import SAMPLE_DATASET, dataset_of, engine_database
from bqlite_app.errors import AccessDenied
from engines.base import Engine, Statement
from engines.errors import EngineError

# Views of views of views...: deeper than this is refused rather than followed forever.
MAX_VIEW_DEPTH = 8
VIEWS_TTL_S = 1.0
_WRITER_OPERATIONS = {"insert", "create", "update", "delete"}
_OWNER_OPERATIONS = {"drop", "alter", "truncate", "rename"}
_ADMIN_OPERATIONS = {"create_database", "drop_database", "alter_database"}
# Statements that change nothing of a dataset although the parser does not call them reads.
_HARMLESS_KINDS = {"TRANSACTION", "VACUUM", "ANALYZE", "PREPARE", "EXECUTE", "DEALLOCATE"}
# Functions that reach tables named in strings, where the parser sees no table: only admins may call them.
_TABLES_BY_STRING = {"merge", "loop", "mergetreeindex", "mergetreeprojection", "mergetreeanalyzeindexes", "joinget",
                     "joingetornull", "hascolumnintable", "query", "query_table"}
# Table engines that read or write other tables by name (``ENGINE = Merge(db, regex)``, ``Buffer(db, table, ...)``).
_TABLES_BY_STORAGE = {"merge", "buffer", "distributed", "dictionary", "alias"}


@dataclass(frozen=True)
class Need:
    dataset: str
    role: DatasetRole | None        # None: the admin role
    why: str                        # "reads sales.orders", "creates a database"


class Authorizer:
    def __init__(self, grants: Grants, audit: AuditLog) -> None:
        self._grants = grants
        self._audit = audit
        self._views: dict[str, tuple[float, dict[tuple[str, str], str]]] = {}
        self._view_parses: OrderedDict[tuple[str, str], list[Statement]] = OrderedDict()
        self._lock = threading.Lock()

    def check_sql(self, user: Principal, engine: Engine, statements: Sequence[Statement] | None) -> None:
        """Raise ``AccessDenied`` (and record it) unless ``user`` may run every statement. Admins may do anything;
        text that does not parse touches nothing (the engine fails it)."""
        if user.is_admin or not statements:
            return
        for need in self.needs(engine, statements):
            if need.role is None:
                self._refuse(user, engine, f"needs the admin role ({need.why})", need.dataset)
            elif not role_at_least(self._grants.role_on(user, need.dataset), need.role):
                self._refuse(user, engine, f"needs {need.role} on dataset {need.dataset} ({need.why})", need.dataset)

    def needs(self, engine: Engine, statements: Sequence[Statement]) -> list[Need]:
        """Every (dataset, role) the statements need, reads first then writes, views expanded."""
        needs: list[Need] = []
        for statement in statements:
            needs.extend(Need(SAMPLE_DATASET, None, f"{name}() reads tables named in a string")
                         for name in statement.functions if name in _TABLES_BY_STRING)
            needs.extend(Need(SAMPLE_DATASET, None, f"ENGINE = {name} reaches tables by name")
                         for name in statement.storage if name.lower() in _TABLES_BY_STORAGE)
            needs.extend(self._reads(engine, statement.read_tables, None, 0, set()))
            needs.extend(_writes(engine.name, statement))
            if statement.operation == "create" and "MATERIALIZED" in statement.words:
                # A materialized view writes what it reads into its target (``TO db.table``) on every insert.
                needs.extend(Need(need.dataset, "writer", f"a materialized view writes {need.why[6:]}")
                             for need in self._reads(engine, statement.read_tables, None, 0, set())
                             if need.role == "reader")
        return list(dict.fromkeys(needs))

    # -- internals -------------------------------------------------------------------------------------------

    def _reads(self, engine: Engine, names: Sequence[str], home: str | None, depth: int,
               seen: set[tuple[str, str]]) -> list[Need]:
        needs: list[Need] = []
        for name in names:
            database, table = split_name(name, engine.name, home)
            dataset = dataset_of(engine.name, database)
            needs.append(Need(dataset, "reader", f"reads {dataset}.{table}"))
            key = (database or engine_database(engine.name, SAMPLE_DATASET), table)
            if key in seen:
                continue
            seen.add(key)
            definition = self._view_definitions(engine).get(key)
            if definition is None:
                continue
            if depth >= MAX_VIEW_DEPTH:
                needs.append(Need(dataset, None, f"view {dataset}.{table} nests deeper than {MAX_VIEW_DEPTH} levels"))
                continue
            for inner in self._parse_view(engine, definition):
                needs.extend(self._reads(engine, inner.read_tables, key[0], depth + 1, seen))
        return needs

    def _view_definitions(self, engine: Engine) -> dict[tuple[str, str], str]:
        with self._lock:
            cached = self._views.get(engine.name)
        if cached is not None and time.monotonic() - cached[0] < VIEWS_TTL_S:
            return cached[1]
        views = engine.views()
        with self._lock:
            self._views[engine.name] = (time.monotonic(), views)
        return views

    def _parse_view(self, engine: Engine, sql: str) -> list[Statement]:
        key = (engine.name, sql)
        with self._lock:
            if key in self._view_parses:
                return self._view_parses[key]
        try:
            parsed = engine.parse(sql)
        except EngineError:
            parsed = []        # a view the engine cannot parse cannot be read either
        with self._lock:
            self._view_parses[key] = parsed
            while len(self._view_parses) > 256:
                self._view_parses.popitem(last=False)
        return parsed

    def _refuse(self, user: Principal, engine: Engine, reason: str, dataset: str) -> None:
        self._audit.record(user, "access.denied", target=dataset, outcome="denied",
                           detail={"reason": reason, "engine": engine.name})
        raise AccessDenied(f"Access denied: {reason.split(' (')[0]}")



def _writes(engine: str, statement: Statement) -> list[Need]:
    operation = statement.operation
    if operation in _ADMIN_OPERATIONS:
        target = statement.targets[0] if statement.targets else ""
        verb = operation.replace("_database", "").upper()
        return [Need(_unquote(target) or SAMPLE_DATASET, None, f"{verb} SCHEMA/DATABASE")]
    if operation in _WRITER_OPERATIONS or operation in _OWNER_OPERATIONS:
        role: DatasetRole = "writer" if operation in _WRITER_OPERATIONS else "owner"
        needs = []
        for target in statement.targets or ("",):
            database, table = split_name(target, engine, None)
            dataset = dataset_of(engine, database)
            needs.append(Need(dataset, role, f"{operation} {dataset}.{table}"))
        return needs
    if not statement.reads_only and statement.kind not in _HARMLESS_KINDS:
        return [Need(SAMPLE_DATASET, None, f"{statement.kind} statement")]
    return []


def split_name(name: str, engine: str, home: str | None) -> tuple[str | None, str]:
    """(database, table) of a name as written; ``home`` is the database of unqualified names (None: default)."""
    parts = _split(name)
    if not parts:
        return home, ""
    if len(parts) == 1:
        return home, parts[0]
    # DuckDB may name catalog.schema.table; ClickHouse only database.table.
    return parts[-2], parts[-1]


def _split(name: str) -> list[str]:
    parts, current, quote = [], "", ""
    for char in name:
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in "\"`":
            quote = char
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
    if current or parts:
        parts.append(current)
    return [p for p in parts if p != ""]


def _unquote(name: str) -> str:
    parts = _split(name)
    return parts[-1] if parts else ""


__all__ = ["AccessDenied", "Authorizer", "Need", "split_name"]
