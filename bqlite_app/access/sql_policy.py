"""What user SQL may do: the engines' tables, and nothing else on the server (docs/api.md, "the sandbox").

Every statement is classified by its engine's own parser (``Engine.parse``) before a job exists, dry runs and plans
included, and judged here by the dialect's rules. A refusal names the construct. Text that does not parse is let
through: the engine fails it with the same parser, and the job reports the syntax error like any other. Anything
else that stops the judging (an engine that does not answer, a tree it will not show) refuses: the check fails
closed.

This is the first wall. The engines are also configured so that a statement which slipped past still cannot reach
files, the network or a setting (see ``engines/duckdb_engine.py`` and ``engines/clickhouse_engine.py``).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable

from bqlite_app.access import _clickhouse_rules, _duckdb_rules
from bqlite_app.access._rules import Limits, Refusal
from bqlite_app.errors import ServiceUnavailable, SqlNotAllowed
from bqlite_app.settings import Settings
from engines._common import parse_bytes
from engines.base import Engine, Statement
from engines.errors import EngineError, EngineQueryError, EngineUnavailable

Rules = Callable[[Statement, Limits], Refusal | None]
_RULES: dict[str, Rules] = {"duckdb": _duckdb_rules.judge, "clickhouse": _clickhouse_rules.judge}
_DOCS = "queries may use the engines' tables and nothing else on the server (see docs/security.md)"


def sandbox_limits(settings: Settings) -> Limits:
    return Limits(files_readable=bool(settings.allowed_directories),
                  max_memory_bytes=parse_bytes(settings.query_memory_limit) if settings.query_memory_limit else None,
                  max_threads=os.cpu_count() or 1)


class SqlPolicy:
    """Judges SQL for one deployment's limits. Parses are cached by text: the same dashboard query submitted again
    costs a dictionary lookup, not a parse."""

    def __init__(self, limits: Limits, *, cache_size: int = 512) -> None:
        self.limits = limits
        self._cache: OrderedDict[tuple[str, str], list[Statement] | None] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def check(self, engine: Engine, sql: str) -> None:
        """Raise ``SqlNotAllowed`` naming the first construct the sandbox refuses."""
        statements = self._parse(engine, sql)
        if statements is None:
            return
        judge = _RULES[engine.name]
        for statement in statements:
            refusal = judge(statement, self.limits)
            if refusal is not None:
                raise SqlNotAllowed(f"{refusal.construct} is not allowed: {refusal.reason}; {_DOCS}")

    def statements(self, engine: Engine, sql: str) -> list[Statement] | None:
        """The parsed statements (cached), or None when the text does not parse; for the access checks."""
        return self._parse(engine, sql)

    def _parse(self, engine: Engine, sql: str) -> list[Statement] | None:
        key = (engine.name, sql)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            statements: list[Statement] | None = engine.parse(sql)
        except EngineQueryError:
            statements = None      # does not parse, and never will: the engine fails it the same way
        except EngineUnavailable as exc:
            # Fail closed, and remember nothing: the same text is judged again once the engine answers.
            raise ServiceUnavailable(f"{engine.name} cannot check this statement right now: {exc}") from exc
        except EngineError as exc:
            raise SqlNotAllowed(f"The statement could not be analysed, so it is not run: {exc}") from exc
        with self._lock:
            self._cache[key] = statements
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return statements
