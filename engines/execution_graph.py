"""A finished run's execution graph: its operators with their own time, rows and share of the run's time.

Both engines' profiles come down to one tree (like BigQuery's execution graph), kept with the job:
- DuckDB: the query profile (``get_profiling_information()``, JSON) of the run itself, read on the run's connection
  as it ends. Each profile operator is a node; ``time_ms`` is the operator's own timing, ``rows`` what it emitted.
- ClickHouse: ``system.processors_profile_log`` for the run's query (found through ``system.query_log`` by the
  run's ``log_comment``). Processors are the pipeline ``EXPLAIN PIPELINE`` shows; they are grouped by the plan step
  that made them (``plan_step``), so a node is a plan step (``Aggregating``, ``Join``, ``ReadFromMergeTree``) with
  the summed time of its processors, the rows leaving the step, and the processors it ran as its detail.

``share`` is a node's own time over the sum of every node's time; a node is ``slow`` when its share is at least
``SLOW_SHARE``. Nothing here runs a query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# A node that takes at least this share of the run's operator time is marked slow.
SLOW_SHARE = 0.25
# Bounds on what is kept with a job: a generated query can have thousands of operators.
MAX_OPERATORS = 400
MAX_DETAIL = 240


@dataclass
class Operator:
    name: str
    detail: str = ""
    time_ms: float | None = None     # the operator's own time (not its children's)
    rows: int | None = None          # rows it emitted
    share: float | None = None       # time_ms over the run's total operator time, 0..1
    slow: bool = False
    children: list[Operator] = field(default_factory=list)

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Operator]]:
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "detail": self.detail, "time_ms": self.time_ms, "rows": self.rows,
                "share": self.share, "slow": self.slow, "children": [c.as_dict() for c in self.children]}

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Operator:
        return cls(name=str(data.get("name", "")), detail=str(data.get("detail") or ""),
                   time_ms=data.get("time_ms"), rows=data.get("rows"), share=data.get("share"),
                   slow=bool(data.get("slow")), children=[cls.of(c) for c in data.get("children") or []])


@dataclass
class ExecutionGraph:
    source: str                       # "duckdb_profile" | "clickhouse_processors_profile_log"
    root: Operator
    total_ms: float = 0.0             # the sum of every operator's time
    operator_count: int = 0
    truncated: bool = False           # operators past MAX_OPERATORS were left out

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "total_ms": self.total_ms, "operator_count": self.operator_count,
                "truncated": self.truncated, "root": self.root.as_dict()}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ExecutionGraph:
        return cls(source=str(data.get("source", "")), root=Operator.of(data.get("root") or {}),
                   total_ms=float(data.get("total_ms") or 0.0), operator_count=int(data.get("operator_count") or 0),
                   truncated=bool(data.get("truncated")))


def finish(source: str, root: Operator) -> ExecutionGraph:
    """The graph of ``root``: at most MAX_OPERATORS nodes (breadth first), with shares and slow marks."""
    kept, truncated = 0, False
    level = [root]
    while level:
        following: list[Operator] = []
        for node in level:
            kept += 1
            room = MAX_OPERATORS - kept - len(following)
            if len(node.children) > room:
                node.children, truncated = node.children[:max(room, 0)], True
            following += node.children
        level = following
    total = sum(node.time_ms or 0.0 for _, node in root.walk())
    for _, node in root.walk():
        if node.time_ms is not None:
            node.time_ms = round(node.time_ms, 3)
            node.share = round(node.time_ms / total, 4) if total > 0 else 0.0
            node.slow = node.share >= SLOW_SHARE
    return ExecutionGraph(source=source, root=root, total_ms=round(total, 3), operator_count=kept,
                          truncated=truncated)


# -- DuckDB ------------------------------------------------------------------------------------------------------

# Extra-info keys worth showing, in this order; the rest (estimates, internal projections) stays out of the detail.
_DUCKDB_DETAIL = ("Table", "Function", "Join Type", "Conditions", "Groups", "Aggregates", "Filters", "Order By",
                  "Top", "Projections")


def from_duckdb_profile(profile: Mapping[str, Any]) -> ExecutionGraph | None:
    """The graph of a DuckDB JSON profile (``get_profiling_information()``); None when it has no operators."""
    roots = [_duckdb_node(node) for node in profile.get("operator") or profile.get("children") or []
             if isinstance(node, Mapping)]
    if not roots:
        return None
    root = roots[0] if len(roots) == 1 else Operator("QUERY", children=roots)
    # The result collector only hands rows to the client; its child is the query's real top operator.
    while root.name == "RESULT_COLLECTOR" and len(root.children) == 1:
        child = root.children[0]
        child.time_ms = (child.time_ms or 0.0) + (root.time_ms or 0.0)
        root = child
    return finish("duckdb_profile", root)


def _duckdb_node(node: Mapping[str, Any]) -> Operator:
    timing = node.get("timing")
    rows = node.get("intermediate_rows")
    return Operator(
        name=str(node.get("name") or node.get("operator_name") or node.get("type") or "?").strip(),
        detail=_duckdb_detail(node.get("extra_info")),
        time_ms=float(timing) * 1000 if isinstance(timing, (int, float)) else None,
        rows=int(rows) if isinstance(rows, (int, float)) else None,
        children=[_duckdb_node(c) for c in node.get("children") or [] if isinstance(c, Mapping)],
    )


def _duckdb_detail(info: object) -> str:
    if not isinstance(info, Mapping):
        return _cut(str(info or ""))
    parts = []
    for key in _DUCKDB_DETAIL:
        value = info.get(key)
        if value in (None, "", []):
            continue
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        if key == "Table" and text.count(".") >= 2:
            text = text.split(".", 1)[1]          # the catalog name says nothing
        parts.append(text if key in ("Table", "Function", "Join Type") else f"{key.lower()}: {text}")
    return _cut(" · ".join(parts))


# -- ClickHouse --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Processor:
    """One row of ``system.processors_profile_log``."""

    id: int
    parent_ids: tuple[int, ...]
    plan_step: int
    step_name: str
    step_description: str
    name: str
    elapsed_us: int
    input_rows: int
    output_rows: int


# Processors the pipeline adds for ports nobody reads (totals, extremes).
_IDLE = {"NullSource"}


def from_processors(processors: Iterable[Processor]) -> ExecutionGraph | None:
    """The graph of a ClickHouse run's processors, one node per plan step; None when there are none."""
    procs = [p for p in processors if not (p.name in _IDLE and not p.elapsed_us and not p.output_rows)]
    if not procs:
        return None
    # Processors that no plan step made (output format, limits checks) form one "Output" node.
    def group_of(p: Processor) -> int:
        return p.plan_step if p.plan_step else 0

    by_id = {p.id: p for p in procs}
    groups: dict[int, list[Processor]] = {}
    for p in procs:
        groups.setdefault(group_of(p), []).append(p)
    parent_group: dict[int, int] = {}
    for key, members in groups.items():
        for p in members:
            outside = [group_of(by_id[i]) for i in p.parent_ids if i in by_id and group_of(by_id[i]) != key]
            if outside and key not in parent_group:
                parent_group[key] = outside[0]
    nodes = {key: _step_node(key, members, by_id, group_of) for key, members in groups.items()}
    roots = []
    for key in groups:                      # in the log's order, which follows the pipeline
        parent = parent_group.get(key)
        if parent is not None and parent in nodes and not _creates_cycle(key, parent, parent_group):
            nodes[parent].children.append(nodes[key])
        else:
            roots.append(nodes[key])
    root = roots[0] if len(roots) == 1 else Operator("QUERY", children=roots)
    return finish("clickhouse_processors_profile_log", root)


def _creates_cycle(key: int, parent: int, parent_group: dict[int, int]) -> bool:
    seen = {key}
    while parent is not None:
        if parent in seen:
            return True
        seen.add(parent)
        parent = parent_group.get(parent)
    return False


def _step_node(key: int, members: list[Processor], by_id: dict[int, Processor], group_of: Any) -> Operator:
    first = members[0]
    name = first.step_name if key and first.step_name else ("Output" if not key else first.name)
    counts: dict[str, int] = {}
    for p in members:
        counts[p.name] = counts.get(p.name, 0) + 1
    processors = ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in counts.items())
    detail = " · ".join(part for part in (first.step_description if key else "", processors) if part)
    # Rows leaving the step: what its processors hand to processors of other steps (or to the client).
    exits = [p for p in members if not any(i in by_id and group_of(by_id[i]) == key for i in p.parent_ids)]
    return Operator(name=name, detail=_cut(detail), time_ms=sum(p.elapsed_us for p in members) / 1000,
                    rows=sum(p.output_rows if p.parent_ids else p.input_rows for p in exits or members))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL - 1] + "…"
