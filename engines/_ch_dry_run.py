"""The ClickHouse engine's dry runs: validate, price, explain and parse user SQL without running it.

Everything here runs on the control client, read-only (``_ch_connections.READ_ONLY``); pricing reads the plan
(``_ch_plan``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from engines import _ch_parse
from engines import _ch_plan as plan
from engines._ch_connections import READ_ONLY
from engines._ch_errors import translate
from engines._ch_params import bind, placeholder_defaults
from engines._ch_table_ops import SYSTEM_DATABASES
from engines._common import first_keyword
from engines.base import QueryEstimate, Statement
from engines.errors import EngineError

# Statements that are queries: they stream, and they have a plan to price.
STREAMED = {"SELECT", "WITH", "FROM"}


class ClickHouseDryRuns:
    """Dry-run methods of ``ClickHouseEngine``, which provides the attributes declared here."""

    _call: Callable[..., Any]
    _call_read: Callable[[Callable[[Any], Any]], Any]

    def estimate(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> QueryEstimate:
        """Validate by planning and price the plan's reads; see ``_ch_plan``. Statements that are not queries
        (CREATE, INSERT...) are only parsed (``EXPLAIN AST``) and count 0 bytes."""
        if first_keyword(sql) not in STREAMED:
            prefix = "EXPLAIN AST "
            try:
                self._read(prefix + sql, parameters)
            except ClickHouseError as exc:
                return _invalid(translate(exc, prefix + sql, len(prefix)))
            return QueryEstimate(valid=True)
        try:
            total, _, tables = self._estimate_reads(sql, parameters)
            tree = self._read("EXPLAIN QUERY TREE " + sql, parameters)
        except ClickHouseError as exc:
            return _invalid(translate(exc, plan.PLAN_PREFIX + sql, len(plan.PLAN_PREFIX)))
        except plan.PlanUnreadable as exc:
            return QueryEstimate(valid=False, error=str(exc))
        # The query tree also names tables the plan never reads (a count() answered from metadata).
        named = [m.group(1) for (line, *_) in tree for m in [re.search(r"table_name: (\S+)", str(line))] if m]
        tables += [t for t in named if t.split(".")[0] not in SYSTEM_DATABASES]
        return QueryEstimate(valid=True, estimated_bytes_processed=total,
                             referenced_tables=list(dict.fromkeys(tables)))

    def _plan_bytes(self, sql: str, parameters: Mapping[str, Any] | None = None) -> tuple[int, int, list[str]]:
        """Bytes and rows the plan of ``sql`` reads and the tables it reads, for a job's statistics; 0, 0, [] when
        it cannot be planned."""
        try:
            return self._estimate_reads(sql, parameters)
        except (ClickHouseError, plan.PlanUnreadable):
            return 0, 0, []       # the query itself will report what is wrong

    def _estimate_reads(self, sql: str, parameters: Mapping[str, Any] | None = None) -> tuple[int, int, list[str]]:
        return plan.estimate_reads(lambda text: self._read(text, parameters), sql)

    def _read(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple]:
        """Rows of a statement about user SQL (a plan, a dry run), run on the control client, read-only."""
        bound = bind(sql, parameters)
        return self._call_read(lambda c: c.query(sql, settings=READ_ONLY, parameters=bound).result_rows)

    def explain(self, sql: str, *, parameters: Mapping[str, Any] | None = None) -> str:
        prefix = "EXPLAIN indexes=1 " if first_keyword(sql) in STREAMED else "EXPLAIN AST "
        try:
            rows = self._read(prefix + sql, parameters)
        except ClickHouseError as exc:
            raise translate(exc, prefix + sql, len(prefix)) from exc
        return "\n".join(str(r[0]) for r in rows)

    def parse(self, sql: str) -> list[Statement]:
        def query(text: str, params: dict[str, Any] | None) -> list[tuple]:
            return self._call(lambda c: c.query(
                text, parameters=params if params is not None else placeholder_defaults(c, text)).result_rows)

        try:
            return [_ch_parse.parse(query, sql)]
        except ClickHouseError as exc:
            raise translate(exc, sql, 0) from exc


def _invalid(error: EngineError) -> QueryEstimate:
    return QueryEstimate(valid=False, error=str(error), position=getattr(error, "position", None))
