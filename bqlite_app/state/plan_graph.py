"""The job page's plan: the engine's EXPLAIN and the execution graph of the job's run, as rows the page draws.

The graph is a tree; the page draws it as indented rows (depth first, parents before children) with a time bar per
operator, so a Reflex ``foreach`` can render it without recursion.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bqlite_app.access.principal import Principal
from bqlite_app.core import app_core
from bqlite_app.errors import ValidationFailed
from bqlite_app.humanize import DASH, human_count
from bqlite_app.jobs.graphs import GraphStatus

INDENT_EM = 1.25


@dataclasses.dataclass(frozen=True)
class GraphRow:
    name: str = ""
    detail: str = ""
    time: str = DASH
    share: str = ""            # "34.1%"
    bar: str = "0%"            # the time bar's width
    rows: str = ""
    depth: int = 0
    indent: str = "0em"
    slow: bool = False


@dataclasses.dataclass(frozen=True)
class PlanView:
    text: str = ""                     # EXPLAIN
    text_error: str = ""
    rows: tuple[GraphRow, ...] = ()
    status: str = ""                   # GraphStatus
    note: str = ""                     # why there is no graph
    summary: str = ""                  # "8 operators · 6.29 ms · duckdb_profile"


def graph_rows(root: dict[str, Any]) -> list[GraphRow]:
    rows: list[GraphRow] = []
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        share = float(node.get("share") or 0.0)
        rows.append(GraphRow(
            name=str(node.get("name", "")), detail=str(node.get("detail") or ""), time=time_text(node.get("time_ms")),
            share=f"{share:.1%}", bar=f"{max(share * 100, 0.5 if share else 0):.1f}%",
            rows=DASH if node.get("rows") is None else f"{human_count(node['rows'])} rows", depth=depth,
            indent=f"{depth * INDENT_EM:g}em", slow=bool(node.get("slow")),
        ))
        stack += [(child, depth + 1) for child in reversed(node.get("children") or [])]
    return rows


def time_text(value: Any) -> str:
    if value is None:
        return DASH
    value = float(value)
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.2f} ms"


def read_plan_view(job_id: str, user: Principal) -> PlanView:
    """The job's EXPLAIN (or why the engine cannot plan it) and the graph of its run."""
    queries = app_core().queries
    job = queries.get(job_id, user=user)
    found = queries.execution_graph(job, user=user)
    try:
        text, text_error = queries.explain(job, user=user), ""
    except ValidationFailed as exc:
        text, text_error = "", exc.detail
    if found.status != GraphStatus.AVAILABLE or found.graph is None:
        return PlanView(text=text, text_error=text_error, status=found.status.value, note=found.note)
    graph = found.graph
    summary = f"{graph.operator_count} operators · {time_text(graph.total_ms)} of operator time"
    if graph.truncated:
        summary += " · truncated"
    return PlanView(text=text, text_error=text_error, rows=tuple(graph_rows(graph.root.as_dict())),
                    status=found.status.value, summary=summary)
