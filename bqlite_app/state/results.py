"""The job the workspace shows, and its result: what the core says about a job, shaped for the page.

Pure functions here read the core (in a worker thread, called by the states) and return plain snapshots; the
``ResultsMixin`` holds the job panel, the result page and paging (the chart: ``state/chart.py``; the cell inspector:
``state/inspector.py``). Rows are paged on the server: the browser only ever holds one page (up to 10,000 rows),
whatever the size of the result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any
from urllib.parse import quote, urlencode

import pyarrow as pa
import reflex as rx
from reflex.config import get_config

from bqlite_app.access.principal import Principal
from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError, ValidationFailed
from bqlite_app.humanize import human_bytes, human_count, human_duration_ms
from bqlite_app.jobs.jsonify import column_values, describe_columns, json_text
from bqlite_app.jobs.models import JobPublic, JobStatus
from bqlite_app.jobs.result_view import PLAIN, ResultView, RowFilter, SortKey
from bqlite_app.jobs.results import EXPORT_FORMATS
from bqlite_app.state.auth import acting
from bqlite_app.state.display import seconds_between
from bqlite_app.state.grid import WIDTH_SAMPLE_ROWS, column_width, header_icon, is_numeric

PAGE_SIZES = ["100", "1000", "10000"]
DEFAULT_PAGE_SIZE = 1000
ACTIVE = {JobStatus.QUEUED.value, JobStatus.RUNNING.value}
# The filter row's operators: what the menu shows -> the API's op (jobs/result_view.py).
FILTER_OPS = {"contains": "contains", "=": "=", "≠": "!=", "<": "<", "≤": "<=", ">": ">", "≥": ">=",
              "is null": "is_null", "is not null": "not_null"}
FILTER_LABELS = {op: label for label, op in FILTER_OPS.items()}
MAX_UI_FILTERS = 8


# -- snapshots (built in a worker thread) ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ResultPageData:
    job_id: str
    columns: list[dict[str, str]]       # [{name, type}]
    rows: list[list[Any]]               # grid cells: numbers in numeric columns, text elsewhere
    total_rows: int
    offset: int


@dataclasses.dataclass(frozen=True)
class JobSnapshot:
    info: JobPublic                     # the job as the core describes it (app_core().queries.describe)
    page: ResultPageData | None = None
    page_error: str = ""

    @property
    def status(self) -> str:
        return self.info.status.value

    @property
    def finished(self) -> bool:
        return self.info.status.finished


def grid_cells(values: list[Any], numeric: bool) -> list[Any]:
    """Cells of one column: numbers stay numbers (right-aligned), nested values become compact JSON text."""
    if numeric:
        return values
    out: list[Any] = []
    for value in values:
        if value is None:
            out.append("null")
        elif isinstance(value, str):
            out.append(value)
        elif isinstance(value, bool):
            out.append("true" if value else "false")
        elif isinstance(value, dict | list):
            out.append(json_text(value))
        else:
            out.append(str(value))
    return out


def table_to_page(job_id: str, table: pa.Table, total_rows: int, offset: int) -> ResultPageData:
    columns = describe_columns(table.schema)
    cells = [grid_cells(column_values(col), is_numeric(meta["type"])) for col, meta in zip(table.columns, columns)]
    rows = [list(row) for row in zip(*cells)] if cells else [[] for _ in range(table.num_rows)]
    return ResultPageData(job_id=job_id, columns=columns, rows=rows, total_rows=total_rows, offset=offset)


def read_page(job_id: str, offset: int, limit: int, user: Principal, view: ResultView = PLAIN) -> ResultPageData:
    """One page of a completed job's stored result, sorted and filtered on the server by ``view`` (the whole
    result, never just this page). Raises BqliteError (e.g. RESULT_EXPIRED, VALIDATION_FAILED)."""
    job = app_core().queries.get(job_id, user=user)
    page = app_core().queries.page(job, offset=offset, limit=limit, user=user, view=view)
    return table_to_page(job_id, page.table, page.total_rows, offset)


def view_of(sort_column: str, sort_desc: bool, filters: list[dict[str, str]]) -> ResultView:
    """The grid's sort and filter row as the core's view."""
    order = (SortKey(sort_column, sort_desc),) if sort_column else ()
    return ResultView(order_by=order, filters=tuple(
        RowFilter(f["column"], f["op"], None if f["op"] in ("is_null", "not_null") else f["value"]) for f in filters))


def filter_chip(column: str, op: str, value: str) -> dict[str, str]:
    """One filter of the filter row, with the label its chip shows."""
    label = f"{column} {FILTER_LABELS.get(op, op)}" + ("" if op in ("is_null", "not_null") else f" {value!r}")
    return {"column": column, "op": op, "value": value, "label": label}


def export_link(job_id: str, fmt: str, user: Principal, view: ResultView = PLAIN) -> str:
    """A one-minute link to the REST export of ``user``'s job: a browser link cannot send a bearer header, and the
    API streams the file, so the UI never holds a whole result in memory."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(f"format: one of {', '.join(EXPORT_FORMATS)}")
    job = app_core().queries.get(job_id, user=user)     # someone else's job is refused here, before any link exists
    token = app_core().identity.issue_download_token(user, job.job_id)
    query = urlencode([("format", fmt), *view.params(), ("download_token", token)])
    return f"{get_config().api_url.rstrip('/')}/jobs/{quote(job.job_id)}/result?{query}"


def snapshot_job(job_id: str, offset: int, limit: int, user: Principal) -> JobSnapshot:
    """The job as the core describes it, plus its result page once it has completed."""
    info = app_core().queries.describe(app_core().queries.get(job_id, user=user))
    if info.status != JobStatus.COMPLETED:
        return JobSnapshot(info=info)
    try:
        return JobSnapshot(info=info, page=read_page(job_id, offset, limit, user))
    except BqliteError as exc:    # RESULT_EXPIRED and the like: the job still shows, with why its rows do not
        return JobSnapshot(info=info, page_error=exc.detail)


def _or_unknown(value: int | None) -> int:
    return -1 if value is None else value


def line_and_column(sql: str, position: int | None) -> tuple[int, int] | None:
    """A 1-based character position (as engines report it) as 1-based line and column."""
    if not position or position < 1 or position > len(sql) + 1:
        return None
    before = sql[: position - 1]
    line = before.count("\n") + 1
    return line, position - (before.rfind("\n") + 1)


# -- the state mixin ------------------------------------------------------------------------------------------


class ResultsMixin(rx.State, mixin=True):
    """The shown job (status, timings, error) and one page of its result."""

    job_id: str = ""
    job_status: str = ""                # "" (none), "submitting", or a JobStatus value
    job_engine: str = ""
    job_sql: str = ""
    job_progress: float = -1.0          # 0..1 while running when the engine reports it; -1 when unknown
    job_elapsed: str = ""
    job_queue_position: int = 0
    job_error: str = ""
    job_error_position: int = 0
    job_execution_ms: int = -1
    job_bytes_processed: int = -1
    job_rows: int = -1
    # The shown job finished and its result (if any) is loaded: nothing left to poll.
    job_settled: bool = True

    result_job_id: str = ""
    result_columns: list[dict[str, str]] = []
    rows: list[list[Any]] = []
    total_rows: int = 0
    page_offset: int = 0
    page_size: int = DEFAULT_PAGE_SIZE
    result_note: str = ""               # e.g. "the result has expired"
    result_view: str = "results"

    # Sort and filter over the whole result (server-side): a header click sorts, the filter row narrows.
    sort_column: str = ""
    sort_desc: bool = False
    row_filters: list[dict[str, str]] = []   # [{column, op, value, label}]
    filter_column: str = ""
    filter_op: str = "contains"              # a key of FILTER_OPS
    filter_value: str = ""
    view_loading: bool = False

    _paging: bool = False
    _view_seq: int = 0

    def _clear_job(self) -> None:
        self.job_id = self.job_status = self.job_engine = self.job_sql = self.job_elapsed = ""
        self.job_error, self.job_error_position, self.job_queue_position = "", 0, 0
        self.job_progress = -1.0
        self.job_execution_ms = self.job_bytes_processed = self.job_rows = -1
        self.job_settled = True
        self._clear_result()

    def _clear_result(self) -> None:
        self.result_job_id, self.result_columns, self.rows = "", [], []
        self.total_rows = self.page_offset = 0
        self.result_note = ""
        self._clear_view()

    def _clear_view(self) -> None:
        self.sort_column, self.sort_desc, self.row_filters = "", False, []
        self.filter_column, self.filter_op, self.filter_value = "", "contains", ""
        self._view_seq += 1
        self.view_loading = False

    def _view(self) -> ResultView:
        return view_of(self.sort_column, self.sort_desc, self.row_filters)

    def _apply_snapshot(self, snap: JobSnapshot) -> None:
        info = snap.info
        self.job_status = info.status.value
        self.job_engine = info.engine
        self.job_sql = info.sql
        running = info.status == JobStatus.RUNNING
        self.job_progress = float(info.progress) if running and info.progress is not None else -1.0
        self.job_queue_position = info.queue_position or 0
        self.job_error = info.error or ""
        self.job_error_position = info.error_position or 0
        # -1: not known (yet); the vars stay ints, which the browser compares without a null check.
        self.job_execution_ms = _or_unknown(info.execution_time_ms)
        self.job_bytes_processed = _or_unknown(info.bytes_processed)
        self.job_rows = _or_unknown(info.rows_returned)
        if info.status == JobStatus.QUEUED:
            self.job_elapsed = human_duration_ms(1000 * (seconds_between(info.created_at, None) or 0))
        elif running:
            self.job_elapsed = human_duration_ms(1000 * (seconds_between(info.started_at, None) or 0))
        else:
            self.job_elapsed = human_duration_ms(info.execution_time_ms)
        if snap.page is not None:
            if self.sort_column or self.row_filters:  # a snapshot's page is the plain one: say so in the grid
                self._clear_view()
            self._apply_page(snap.page)
        elif snap.page_error:
            self._clear_result()
            self.result_note = snap.page_error
        self.job_settled = snap.finished

    def _apply_page(self, page: ResultPageData) -> None:
        self.result_job_id = page.job_id
        if self.filter_column not in [c["name"] for c in page.columns]:
            self.filter_column = page.columns[0]["name"] if page.columns else ""
        self.result_columns = page.columns
        self.rows = page.rows
        self.total_rows = page.total_rows
        self.page_offset = page.offset
        self.result_note = ""

    # -- derived data ---------------------------------------------------------------------------------------

    @rx.var
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.result_columns]

    @rx.var
    def numeric_columns(self) -> list[str]:
        return [c["name"] for c in self.result_columns if is_numeric(c["type"])]

    @rx.var
    def grid_columns(self) -> list[dict[str, Any]]:
        sample = self.rows[:WIDTH_SAMPLE_ROWS]
        return [
            {"title": c["name"] + (("  ↓" if self.sort_desc else "  ↑") if c["name"] == self.sort_column else ""),
             "id": f"c{i}", "type": "float" if is_numeric(c["type"]) else "str",
             "icon": header_icon(c["type"]), "editable": False,
             # Room for the sort arrow on every header: a click does not make the columns jump.
             "width": column_width(c["name"] + "  ↓", [row[i] for row in sample])}
            for i, c in enumerate(self.result_columns)
        ]

    @rx.var
    def is_active(self) -> bool:
        return self.job_status in ACTIVE or self.job_status == "submitting"

    @rx.var
    def has_result(self) -> bool:
        return bool(self.result_job_id) and self.result_job_id == self.job_id

    @rx.var
    def page_label(self) -> str:
        if not self.total_rows:
            return "0 rows"
        last = min(self.page_offset + self.page_size, self.total_rows, self.page_offset + len(self.rows))
        return f"{self.page_offset + 1:,} – {last:,} of {self.total_rows:,}"

    @rx.var
    def filtered_note(self) -> str:
        """With filters on: how many rows the whole result has, beside the matching count of the pager."""
        if not self.row_filters:
            return ""
        return f"{self.total_rows:,} matching of {max(self.job_rows, 0):,} rows"

    @rx.var
    def sort_label(self) -> str:
        if not self.sort_column:
            return ""
        return f"Sorted by {self.sort_column} {'descending' if self.sort_desc else 'ascending'}"

    @rx.var
    def view_query(self) -> str:
        """``&order_by=...&filter=...`` for the REST export links (the whole result as the grid shows it)."""
        params = view_of(self.sort_column, self.sort_desc, self.row_filters).params()
        return ("&" + urlencode(params)) if params else ""

    @rx.var
    def filter_needs_value(self) -> bool:
        return FILTER_OPS.get(self.filter_op, "contains") not in ("is_null", "not_null")

    @rx.var
    def can_page_back(self) -> bool:
        return self.page_offset > 0

    @rx.var
    def can_page_forward(self) -> bool:
        return self.page_offset + self.page_size < self.total_rows

    @rx.var
    def page_size_label(self) -> str:
        return str(self.page_size)

    @rx.var
    def stats_line(self) -> str:
        parts = []
        if self.job_rows >= 0:
            parts.append(f"{human_count(self.job_rows)} rows")
        if self.job_execution_ms >= 0:
            parts.append(human_duration_ms(self.job_execution_ms))
        if self.job_bytes_processed >= 0:
            parts.append(f"{human_bytes(self.job_bytes_processed)} processed")
        return " · ".join(parts)

    @rx.var
    def progress_percent(self) -> int:
        return -1 if self.job_progress < 0 else round(100 * self.job_progress)

    @rx.var
    def error_where(self) -> str:
        found = line_and_column(self.job_sql, self.job_error_position)
        return "" if found is None else f"Line {found[0]}, column {found[1]}"

    # -- paging events --------------------------------------------------------------------------------------

    @rx.event
    def set_result_view(self, view: str) -> None:
        self.result_view = view

    @rx.event
    async def download_result(self, fmt: str):
        try:
            credentials = self._credentials()  # type: ignore[attr-defined]  (the concrete state is an AuthState)
            url = await asyncio.to_thread(acting, credentials, export_link, self.job_id, fmt, view=self._view())
        except BqliteError as exc:
            self.result_note = exc.detail
            return None
        # The export answers with Content-Disposition: attachment; a hidden iframe fetches it, because navigating the
        # page itself (rx.download takes only same-origin paths; the API is on its own port) fires `beforeunload`,
        # on which Reflex drops its websocket (components/result_grid.py DOWNLOADS_WITHOUT_NAVIGATION).
        return rx.call_script(f"(window.bqliteDownload || window.location.assign.bind(window.location))"
                              f"({json.dumps(url)})")

    @rx.event(background=True)
    async def first_page(self):
        await self._load_page(lambda offset, size, total: 0)

    @rx.event(background=True)
    async def previous_page(self):
        await self._load_page(lambda offset, size, total: offset - size)

    @rx.event(background=True)
    async def next_page(self):
        await self._load_page(lambda offset, size, total: offset + size)

    @rx.event(background=True)
    async def last_page(self):
        await self._load_page(lambda offset, size, total: (max(total - 1, 0) // size) * size)

    @rx.event(background=True)
    async def set_page_size(self, size: str):
        async with self:
            if self._paging:
                return
            self.page_size = int(size) if size in PAGE_SIZES else DEFAULT_PAGE_SIZE
        await self._load_page(lambda offset, size, total: (offset // size) * size)

    async def _load_page(self, where: Any) -> None:
        """Load the page at ``where(offset, size, total)``; one page load at a time per browser tab."""
        async with self:
            if self._paging or not self.result_job_id or self.result_job_id != self.job_id:
                return
            job_id, size, total = self.job_id, self.page_size, self.total_rows
            offset = max(0, min(where(self.page_offset, size, total), max(total - 1, 0)))
            credentials = self._credentials()  # type: ignore[attr-defined]  (the concrete state is an AuthState)
            view, seq = self._view(), self._view_seq
            self._paging = True
        try:
            page = await asyncio.to_thread(acting, credentials, read_page, job_id, offset, size, view=view)
            async with self:
                if self.job_id == job_id and self._view_seq == seq:
                    self._apply_page(page)
        except BqliteError as exc:
            async with self:
                self.result_note = exc.detail
        finally:
            async with self:
                self._paging = False

    # -- sort and filter events (the whole result, on the server) -------------------------------------------

    @rx.event
    def set_filter_column(self, column: str) -> None:
        self.filter_column = column

    @rx.event
    def set_filter_op(self, op: str) -> None:
        self.filter_op = op if op in FILTER_OPS else "contains"

    @rx.event
    def set_filter_value(self, value: str) -> None:
        self.filter_value = value[:4096]

    @rx.event(background=True)
    async def sort_by_header(self, column: Any):
        """A header click: that column ascending, then descending, then the stored order again."""
        index = column[0] if isinstance(column, list | tuple) else column
        async with self:
            names = [c["name"] for c in self.result_columns]
            try:
                name = names[int(index)]
            except (TypeError, ValueError, IndexError):
                return
            before = (self.sort_column, self.sort_desc)
            if self.sort_column != name:
                self.sort_column, self.sort_desc = name, False
            elif not self.sort_desc:
                self.sort_desc = True
            else:
                self.sort_column, self.sort_desc = "", False

        def revert() -> None:
            self.sort_column, self.sort_desc = before

        await self._reload_view(revert)

    @rx.event(background=True)
    async def add_filter(self, form: dict[str, Any] | None = None):
        """The filter row's Apply (or Enter in its value box): add the filter, back to the first page."""
        async with self:
            column = self.filter_column or (self.result_columns[0]["name"] if self.result_columns else "")
            op = FILTER_OPS.get(self.filter_op, "contains")
            value = str((form or {}).get("filter_value", self.filter_value))[:4096]
            if not column or column not in [c["name"] for c in self.result_columns]:
                self.result_note = "Choose a column to filter on."
                return
            if len(self.row_filters) >= MAX_UI_FILTERS:
                self.result_note = f"At most {MAX_UI_FILTERS} filters."
                return
            before = self.row_filters
            self.row_filters = [*before, filter_chip(column, op, value)]
            self.filter_value = ""

        def revert() -> None:
            self.row_filters = before

        await self._reload_view(revert)

    @rx.event(background=True)
    async def remove_filter(self, index: int):
        async with self:
            if not 0 <= int(index) < len(self.row_filters):
                return
            self.row_filters = [f for i, f in enumerate(self.row_filters) if i != int(index)]
        await self._reload_view()

    @rx.event(background=True)
    async def clear_view(self):
        async with self:
            if not (self.row_filters or self.sort_column):
                return
            self.row_filters, self.sort_column, self.sort_desc = [], "", False
        await self._reload_view()

    async def _reload_view(self, revert: Any = None) -> None:
        """The first page of the result as the sort and filters now say. A newer change wins over an older load;
        a change the server refuses (a value that is no number, a column that cannot be ordered) is taken back
        by ``revert``, and its reason shown."""
        async with self:
            if not self.result_job_id or self.result_job_id != self.job_id:
                return
            self._view_seq += 1
            job_id, size, seq, view = self.job_id, self.page_size, self._view_seq, self._view()
            credentials = self._credentials()  # type: ignore[attr-defined]  (the concrete state is an AuthState)
            self.view_loading = True
            self.result_note = ""
        try:
            page = await asyncio.to_thread(acting, credentials, read_page, job_id, 0, size, view=view)
        except BqliteError as exc:
            async with self:
                if self._view_seq == seq:
                    self.result_note = exc.detail
                    if revert is not None and exc.error_code == "VALIDATION_FAILED":
                        revert()
            return
        finally:
            async with self:
                if self._view_seq == seq:
                    self.view_loading = False
        async with self:
            if self.job_id == job_id and self._view_seq == seq:
                self._apply_page(page)
