"""The job the workspace shows, and its result: what the core says about a job, shaped for the page.

Pure functions here read the core (in a worker thread, called by the states) and return plain snapshots; the
``ResultsMixin`` holds the job panel, the result page, paging and the quick chart. Rows are paged on the server:
the browser only ever holds one page (up to 10,000 rows), whatever the size of the result.
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
from bqlite_app.jobs.results import EXPORT_FORMATS
from bqlite_app.state.auth import acting
from bqlite_app.state.display import seconds_between
from bqlite_app.state.grid import WIDTH_SAMPLE_ROWS, column_width, header_icon, is_numeric, to_number

PAGE_SIZES = ["100", "1000", "10000"]
DEFAULT_PAGE_SIZE = 1000
CHART_MAX_POINTS = 1000
ACTIVE = {JobStatus.QUEUED.value, JobStatus.RUNNING.value}


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


def read_page(job_id: str, offset: int, limit: int, user: Principal) -> ResultPageData:
    """One page of a completed job's stored result. Raises BqliteError (e.g. RESULT_EXPIRED)."""
    job = app_core().queries.get(job_id, user=user)
    page = app_core().queries.page(job, offset=offset, limit=limit, user=user)
    return table_to_page(job_id, page.table, page.total_rows, offset)


def export_link(job_id: str, fmt: str, user: Principal) -> str:
    """A one-minute link to the REST export of ``user``'s job: a browser link cannot send a bearer header, and the
    API streams the file, so the UI never holds a whole result in memory."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(f"format: one of {', '.join(EXPORT_FORMATS)}")
    job = app_core().queries.get(job_id, user=user)     # someone else's job is refused here, before any link exists
    token = app_core().identity.issue_download_token(user, job.job_id)
    query = urlencode({"format": fmt, "download_token": token})
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

    _paging: bool = False

    chart_kind: str = "bar"
    chart_x: str = ""
    chart_y: str = ""

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
            self._apply_page(snap.page)
        elif snap.page_error:
            self._clear_result()
            self.result_note = snap.page_error
        self.job_settled = snap.finished

    def _apply_page(self, page: ResultPageData) -> None:
        names = [c["name"] for c in page.columns]
        names_changed = names != [c["name"] for c in self.result_columns]
        self.result_job_id = page.job_id
        self.result_columns = page.columns
        self.rows = page.rows
        self.total_rows = page.total_rows
        self.page_offset = page.offset
        self.result_note = ""
        if names_changed or self.chart_x not in names:
            self._pick_chart_columns()

    def _pick_chart_columns(self) -> None:
        names = [c["name"] for c in self.result_columns]
        numeric = [c["name"] for c in self.result_columns if is_numeric(c["type"])]
        self.chart_x = names[0] if names else ""
        others = [n for n in numeric if n != self.chart_x]
        self.chart_y = others[0] if others else (numeric[0] if numeric else "")

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
            {"title": c["name"], "id": f"c{i}", "type": "float" if is_numeric(c["type"]) else "str",
             "icon": header_icon(c["type"]), "editable": False,
             "width": column_width(c["name"], [row[i] for row in sample])}
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

    @rx.var
    def chart_data(self) -> list[dict[str, Any]]:
        names = [c["name"] for c in self.result_columns]
        if self.chart_x not in names or self.chart_y not in names:
            return []
        xi, yi = names.index(self.chart_x), names.index(self.chart_y)
        points = []
        for row in self.rows[:CHART_MAX_POINTS]:
            y = to_number(row[yi])
            if y is not None:
                points.append({"x": row[xi] if row[xi] is not None else "null", "y": y})
        return points

    # -- paging and chart events ----------------------------------------------------------------------------

    @rx.event
    def set_result_view(self, view: str) -> None:
        self.result_view = view

    @rx.event
    def set_chart_kind(self, kind: str | list[str]) -> None:
        self.chart_kind = "line" if kind == "line" else "bar"

    @rx.event
    def set_chart_x(self, column: str) -> None:
        self.chart_x = column

    @rx.event
    def set_chart_y(self, column: str) -> None:
        self.chart_y = column

    @rx.event
    async def download_result(self, fmt: str):
        try:
            credentials = self._credentials()  # type: ignore[attr-defined]  (the concrete state is an AuthState)
            url = await asyncio.to_thread(acting, credentials, export_link, self.job_id, fmt)
        except BqliteError as exc:
            self.result_note = exc.detail
            return None
        # The export answers with Content-Disposition: attachment, so the browser saves it and stays on the page.
        # (rx.download takes only same-origin paths; the API is on its own port.)
        return rx.call_script(f"window.location.assign({json.dumps(url)})")

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
            self._paging = True
        try:
            page = await asyncio.to_thread(acting, credentials, read_page, job_id, offset, size)
            async with self:
                if self.job_id == job_id:
                    self._apply_page(page)
        except BqliteError as exc:
            async with self:
                self.result_note = exc.detail
        finally:
            async with self:
                self._paging = False
