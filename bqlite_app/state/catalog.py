"""The explorer: engines -> databases -> tables -> columns, and the completion schema the editor uses.

Both engines are read in worker threads (chdb answers one query at a time, so a running ClickHouse query can delay
its catalog; DuckDB's answer is shown as soon as it arrives). Registered schema tables are ordinary tables there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable, Sequence

import reflex as rx

from bqlite_app.access.principal import Principal
from bqlite_app.core import app_core
from bqlite_app.datasets import SAMPLE_DATABASES, dataset_of
from bqlite_app.errors import AuthRequired
from bqlite_app.state.auth import AuthState, acting
from engines.base import CatalogTable

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Quote = Callable[[str], str]


@dataclasses.dataclass
class ColumnNode:
    name: str
    type: str


@dataclasses.dataclass
class TableNode:
    key: str
    name: str
    qualified: str      # as the editor should insert it, quoted where needed
    rows: str           # "2,000 rows" where the engine knows it cheaply
    columns: list[ColumnNode]


@dataclasses.dataclass
class DatabaseNode:
    key: str
    name: str
    tables: list[TableNode]


@dataclasses.dataclass
class EngineNode:
    key: str
    name: str
    error: str
    databases: list[DatabaseNode]


def insertable(name: str, quote: Quote) -> str:
    """``name`` as the editor should insert it: bare when it is a plain identifier (easier to read and edit), else
    quoted by its engine (``Engine.quote``, which knows the dialect)."""
    return name if _PLAIN.fullmatch(name) else quote(name)


def quote_name(engine: str, name: str) -> str:
    """``insertable`` for the running core's engine named ``engine``."""
    return insertable(name, app_core().engines[engine].quote)


def engine_tree(engine: str, tables: list[CatalogTable], empty: Sequence[str] = (), *,
                quote: Quote) -> list[DatabaseNode]:
    """The explorer's databases with their tables; ``empty`` databases (no tables yet) are shown too, last.
    ``quote`` is the engine's ``Engine.quote``."""
    databases: dict[str, list[TableNode]] = {}
    for table in sorted(tables, key=lambda t: (t.database != SAMPLE_DATABASES.get(engine), t.database, t.name)):
        key = f"{engine}/{table.database}/{table.name}"
        rows = "" if table.row_count is None else f"{table.row_count:,} rows"
        databases.setdefault(table.database, []).append(TableNode(
            key=key, name=table.name, rows=rows,
            qualified=f"{insertable(table.database, quote)}.{insertable(table.name, quote)}",
            columns=[ColumnNode(c.name, c.type) for c in table.columns],
        ))
    for name in empty:
        databases.setdefault(name, [])
    return [DatabaseNode(key=f"{engine}/{name}", name=name, tables=items) for name, items in databases.items()]


def readable_tables(engine: str, tables: list[CatalogTable], readable: set[str] | None) -> list[CatalogTable]:
    """Only the tables in datasets the caller may read (``None``: all of them, for admins)."""
    if readable is None:
        return tables
    return [t for t in tables if dataset_of(engine, t.database) in readable]


def read_engine(name: str, *, user: Principal) -> EngineNode:
    try:
        readable = app_core().grants.readable_datasets(user)
        engine = app_core().engines[name]
        tables = readable_tables(name, engine.catalog(), readable)
        empty = [database for database in engine.databases()
                 if readable is None or dataset_of(name, database) in readable]
        return EngineNode(key=name, name=name, error="",
                          databases=engine_tree(name, tables, empty, quote=engine.quote))
    except Exception as exc:  # an unavailable engine is shown as such; the other one still works
        return EngineNode(key=name, name=name, error=f"{type(exc).__name__}: {exc}", databases=[])


class CatalogState(AuthState):
    engines: list[EngineNode] = []
    # Expanded tree nodes. Engines and databases start open, tables closed.
    open_keys: list[str] = []
    loading: bool = False
    filter_text: str = ""

    _loading: bool = False
    _reload: bool = False
    _seen_keys: set[str] = set()

    @rx.var
    def completion(self) -> dict[str, dict[str, dict[str, list[list[str]]]]]:
        """Per engine: {database: {table: [[column, type], ...]}}, the shape the editor's completion reads."""
        return {
            engine.name: {
                database.name: {table.name: [[c.name, c.type] for c in table.columns] for table in database.tables}
                for database in engine.databases
            }
            for engine in self.engines
        }

    @rx.var
    def shown_engines(self) -> list[EngineNode]:
        """The tree, keeping the tables whose name contains the filter text, and the matching columns of others."""
        needle = self.filter_text.strip().lower()
        if not needle:
            return self.engines
        shown = []
        for engine in self.engines:
            databases = []
            for database in engine.databases:
                tables = []
                for table in database.tables:
                    if needle in table.name.lower():
                        tables.append(table)
                    elif columns := [c for c in table.columns if needle in c.name.lower()]:
                        tables.append(dataclasses.replace(table, columns=columns))
                if tables:
                    databases.append(dataclasses.replace(database, tables=tables))
            shown.append(dataclasses.replace(engine, databases=databases))
        return shown

    @rx.event
    def set_filter_text(self, text: str) -> None:
        self.filter_text = text

    @rx.event
    def toggle(self, key: str) -> None:
        if key in self.open_keys:
            self.open_keys = [k for k in self.open_keys if k != key]
        else:
            self.open_keys = [*self.open_keys, key]

    def _show(self, node: EngineNode) -> None:
        order = list(app_core().engines)
        self.engines = sorted([*(e for e in self.engines if e.name != node.name), node],
                              key=lambda e: order.index(e.name))
        # Open engines and databases the first time they appear; keep what the user folded.
        fresh = [k for k in [node.key, *(d.key for d in node.databases)] if k not in self._seen_keys]
        self._seen_keys |= set(fresh)
        self.open_keys = [*self.open_keys, *fresh]

    @rx.event(background=True)
    async def load(self):
        """Read both catalogs. A request during a load makes that load read them once more (a table may have
        been created after it read)."""
        async with self:
            if self._loading:
                self._reload = True
                return
            self._loading = self.loading = True
            credentials = self._credentials()
        try:
            again = True
            while again:
                for name in app_core().engines:
                    try:
                        node = await asyncio.to_thread(acting, credentials, read_engine, name)
                    except AuthRequired:  # signed out: the page is on its way to the login form
                        return
                    async with self:
                        self._show(node)
                async with self:
                    again, self._reload = self._reload, False
        finally:
            async with self:
                self._loading = self.loading = False
