"""The result chart: x column, one or more y series, an aggregate, and the chart type.

A result that fits the shown page can be plotted row by row, from the page the browser already has. Anything bigger
is charted over the *whole* result: the core groups it by x with the chosen aggregate for each y, in DuckDB over the
stored Arrow result (``QueryService.aggregate``), and only those groups (at most ``MAX_GROUPS``, binned or cut
by the core) reach the browser. The chart follows the grid's filters, so it plots the rows the grid shows.

PNG and SVG exports are made in the browser from the drawn chart (``components/chart.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pyarrow as pa
import reflex as rx

from bqlite_app.access.principal import Principal
from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError
from bqlite_app.humanize import human_count
from bqlite_app.jobs.jsonify import column_values
from bqlite_app.jobs.result_view import ResultView
from bqlite_app.state.auth import acting
from bqlite_app.state.grid import is_numeric, to_number

CHART_KINDS = ("bar", "line", "area", "scatter")
# "none": the page's own rows, unaggregated; the others group the whole result by x on the server.
AGGREGATES = ("none", "sum", "avg", "min", "max", "count")
AGGREGATE_LABELS = {"none": "No aggregation", "sum": "Sum", "avg": "Average", "min": "Minimum", "max": "Maximum",
                    "count": "Count"}
CHART_MAX_POINTS = 1000        # rows of the page plotted without aggregation
MAX_GROUPS = 1000              # groups the server sends for an aggregated chart
MAX_SERIES = 8
# Colours that read on light and dark backgrounds, and stay as they are in an exported SVG or PNG.
PALETTE = ("#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16")


# -- pure helpers ---------------------------------------------------------------------------------------------


def default_columns(columns: list[dict[str, str]]) -> tuple[str, list[str]]:
    """x: the first column; y: the first numeric column that is not x (or x itself when it is the only one)."""
    names = [c["name"] for c in columns]
    numeric = [c["name"] for c in columns if is_numeric(c["type"])]
    x = names[0] if names else ""
    others = [n for n in numeric if n != x]
    return x, others[:1] or numeric[:1]


def default_aggregate(total_rows: int, page_rows: int) -> str:
    """Rows as they are while the whole result is on the page; a sum over the whole result when it is bigger."""
    return "none" if total_rows <= page_rows else "sum"


def series_of(ys: list[str], agg: str) -> list[dict[str, str]]:
    """The drawn series: ``{key, name, color}``. Keys are ``y0``, ``y1``... (recharts reads a dotted key as a path,
    and column names may hold dots); ``count`` with no y column is one series of row counts."""
    if not ys:
        names = ["rows"] if agg == "count" else []
    else:
        prefix = "" if agg == "none" else AGGREGATE_LABELS[agg].lower() + " of "
        names = [prefix + y for y in ys]
    return [{"key": f"y{i}", "name": name, "color": PALETTE[i % len(PALETTE)]} for i, name in enumerate(names)]


def _x_label(value: Any) -> Any:
    return "null" if value is None else value


def page_points(columns: list[dict[str, str]], rows: list[list[Any]], x: str, ys: list[str],
                limit: int = CHART_MAX_POINTS) -> list[dict[str, Any]]:
    """Points of the page's first ``limit`` rows: ``{"x": ..., "y0": ..., "y1": ...}``; a y that is no number
    is a gap (None)."""
    names = [c["name"] for c in columns]
    if x not in names or not ys or any(y not in names for y in ys):
        return []
    xi, yis = names.index(x), [names.index(y) for y in ys]
    points = []
    for row in rows[:limit]:
        point: dict[str, Any] = {"x": _x_label(row[xi])}
        for i, yi in enumerate(yis):
            point[f"y{i}"] = to_number(row[yi])
        points.append(point)
    return points


def table_points(table: pa.Table) -> list[dict[str, Any]]:
    """Points of an aggregate: its first column is x, the next ones the series, in order."""
    if table.num_columns == 0:
        return []
    xs = column_values(table.column(0))
    series = [column_values(table.column(i)) for i in range(1, table.num_columns)]
    return [{"x": _x_label(x), **{f"y{i}": to_number(values[row]) for i, values in enumerate(series)}}
            for row, x in enumerate(xs)]


@dataclasses.dataclass(frozen=True)
class ChartData:
    points: list[dict[str, Any]]
    rows: int            # rows aggregated
    groups: int          # distinct x values among them
    binned: bool
    truncated: bool


def describe_aggregate(data: ChartData, x: str, agg: str, *, filtered: bool = False) -> str:
    """The line under an aggregated chart: what was grouped, over how many rows, and how the groups were cut."""
    rows = f"the {data.rows:,} rows that pass the grid's filters" if filtered else f"all {data.rows:,} rows"
    what = f"{AGGREGATE_LABELS[agg]} by {x} over {rows}, on the server"
    if data.binned:
        return f"{what} · {human_count(data.groups)} values of {x} in {len(data.points):,} equal-width bins"
    if data.truncated:
        return f"{what} · the {len(data.points):,} largest of {data.groups:,} groups"
    return f"{what} · {data.groups:,} group{'' if data.groups == 1 else 's'}"


def read_aggregate(job_id: str, x: str, ys: list[str], agg: str, view: ResultView, user: Principal) -> ChartData:
    """``user``'s job's whole result grouped by ``x`` (the core's ``aggregate``; ``view`` carries the filters)."""
    queries = app_core().queries
    job = queries.get(job_id, user=user)
    found = queries.aggregate(job, x=x, ys=list(ys), agg=agg, view=view, max_groups=MAX_GROUPS, user=user)
    return ChartData(points=table_points(found.table), rows=found.rows, groups=found.groups, binned=found.binned,
                     truncated=found.truncated)


def export_name(job_id: str, kind: str) -> str:
    """The file name (without extension) of an exported chart."""
    return f"chart-{job_id or 'result'}-{kind}"


# -- the state mixin ------------------------------------------------------------------------------------------


class ChartMixin(rx.State, mixin=True):
    """The chart of the shown result (the concrete state also has ``ResultsMixin``'s columns and page)."""

    chart_kind: str = "bar"
    chart_x: str = ""
    chart_ys: list[str] = []
    chart_agg: str = "none"
    chart_points: list[dict[str, Any]] = []       # the server's groups, when aggregated
    chart_summary: str = ""
    chart_error: str = ""
    chart_loading: bool = False

    _chart_key: str = ""       # what chart_points were loaded for
    _chart_seq: int = 0

    # -- ResultsMixin hooks: a new result (or other columns) picks new chart columns --------------------------------

    def _apply_page(self, page: Any) -> None:
        names_before = [c["name"] for c in self.result_columns]  # type: ignore[attr-defined]
        job_before = self.result_job_id  # type: ignore[attr-defined]
        super()._apply_page(page)  # type: ignore[misc]
        names = [c["name"] for c in self.result_columns]  # type: ignore[attr-defined]
        if names != names_before or job_before != self.result_job_id or self.chart_x not in names:  # type: ignore[attr-defined]
            self._pick_chart_columns()

    def _pick_chart_columns(self) -> None:
        self.chart_x, self.chart_ys = default_columns(self.result_columns)  # type: ignore[attr-defined]
        self.chart_agg = default_aggregate(self.total_rows, len(self.rows))  # type: ignore[attr-defined]
        self._forget_chart()

    def _forget_chart(self) -> None:
        self.chart_points, self.chart_summary, self.chart_error, self._chart_key = [], "", "", ""

    def _chart_view(self) -> ResultView:
        """The grid's filters, which the chart follows (its sort does not change the groups)."""
        return ResultView(filters=self._view().filters)  # type: ignore[attr-defined]  (ResultsMixin's)

    # -- derived ------------------------------------------------------------------------------------------------

    @rx.var
    def chart_series(self) -> list[dict[str, str]]:
        return series_of(self.chart_ys, self.chart_agg)

    @rx.var
    def chart_data(self) -> list[dict[str, Any]]:
        if self.chart_agg == "none":
            return page_points(self.result_columns, self.rows, self.chart_x, self.chart_ys)  # type: ignore[attr-defined]
        return self.chart_points

    @rx.var
    def chart_caption(self) -> str:
        if self.chart_agg != "none":
            return self.chart_summary
        shown = min(len(self.rows), CHART_MAX_POINTS)  # type: ignore[attr-defined]
        if self.total_rows <= len(self.rows) and shown == len(self.rows):  # type: ignore[attr-defined]
            return f"Every row of the result ({shown:,}), not aggregated"
        return (f"The first {shown:,} rows of this page, not aggregated. Choose an aggregate to chart all "
                f"{self.total_rows:,} rows.")  # type: ignore[attr-defined]

    @rx.var
    def chart_ys_label(self) -> str:
        if self.chart_ys:
            return ", ".join(self.chart_ys)
        return "rows" if self.chart_agg == "count" else "Choose…"

    @rx.var
    def chart_file_name(self) -> str:
        return export_name(self.result_job_id, self.chart_kind)  # type: ignore[attr-defined]

    @rx.var
    def chart_needs_y(self) -> bool:
        return not self.chart_ys and self.chart_agg != "count"

    # -- events -------------------------------------------------------------------------------------------------

    @rx.event
    def set_chart_kind(self, kind: str | list[str]):
        self.chart_kind = kind if isinstance(kind, str) and kind in CHART_KINDS else "bar"

    @rx.event
    def set_chart_x(self, column: str):
        if column in [c["name"] for c in self.result_columns]:  # type: ignore[attr-defined]
            self.chart_x = column
        return type(self).load_chart

    @rx.event
    def toggle_chart_y(self, column: str, on: bool):
        numeric = [c["name"] for c in self.result_columns if is_numeric(c["type"])]  # type: ignore[attr-defined]
        chosen = [y for y in self.chart_ys if y != column]
        if on and column in numeric and len(chosen) < MAX_SERIES:
            chosen.append(column)
        self.chart_ys = [y for y in numeric if y in chosen]     # the result's column order
        return type(self).load_chart

    @rx.event
    def set_chart_agg(self, agg: str):
        self.chart_agg = agg if agg in AGGREGATES else "sum"
        return type(self).load_chart

    @rx.event(background=True)
    async def load_chart(self):
        """Load the aggregated chart of the whole result, unless it is loaded already (only the latest request's
        answer is shown)."""
        async with self:
            job_id = self.result_job_id  # type: ignore[attr-defined]
            x, ys, agg, view = self.chart_x, list(self.chart_ys), self.chart_agg, self._chart_view()
            key = repr((job_id, x, ys, agg, view))
            if agg == "none" or not job_id or not x or (not ys and agg != "count") or key == self._chart_key:
                return
            self._chart_seq += 1
            seq = self._chart_seq
            self.chart_loading, self.chart_error = True, ""
            credentials = self._credentials()  # type: ignore[attr-defined]  (the concrete state is an AuthState)
        try:
            data = await asyncio.to_thread(acting, credentials, read_aggregate, job_id, x, ys, agg, view)
            error = ""
        except BqliteError as exc:
            data, error = None, exc.detail
        async with self:
            if seq != self._chart_seq:
                return
            self.chart_loading = False
            self._chart_key = key
            if data is None:
                self.chart_points, self.chart_summary, self.chart_error = [], "", error
            else:
                self.chart_points, self.chart_error = data.points, ""
                self.chart_summary = describe_aggregate(data, x, agg, filtered=bool(view.filters))
