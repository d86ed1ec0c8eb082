"""Job history (/jobs) and job detail (/jobs/[job_id]). Both call the core in process and follow it live.

Live updates come from a background event (``state.polling.poll``) that asks the core about once a second while the
page is open. Each page mount, and each change of the filters, starts a watcher with a new generation number (its
first round answers at once) and unmount bumps it, so at most one watcher per tab runs; a watcher also stops when
its browser tab is gone. Every core call runs in a worker thread: a cancel can wait two seconds for the engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any, ClassVar
from urllib.parse import quote

import reflex as rx

from bqlite_app.access.principal import Principal
from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError
from bqlite_app.humanize import DASH, human_bytes, human_count, human_duration_ms, local_time
from bqlite_app.jobs.models import Job, JobPublic, JobStatus
from bqlite_app.state.auth import AuthState, acting
from bqlite_app.state.display import route_tail, seconds_between
from bqlite_app.state.paging import PagingMixin
from bqlite_app.state.plan_graph import GraphRow, PlanView, read_plan_view
from bqlite_app.state.polling import DONE, NEXT, Applied, poll

log = logging.getLogger(__name__)

POLL_S = 1.0
# Reads of a finished job's graph while the engine has not logged it yet (ClickHouse), GRAPH_RETRY_S apart.
GRAPH_ATTEMPTS = 4
GRAPH_RETRY_S = 2.0
PAGE_SIZE = 50
ALL = "all"
STATUSES = [ALL, *(s.value for s in JobStatus)]
ENGINES = [ALL, *app_core().engines]
SQL_PREVIEW_CHARS = 140


def elapsed(info: JobPublic) -> str:
    """Run time for finished jobs, live elapsed time for running ones, waiting time for queued ones."""
    if info.execution_time_ms is not None:
        return human_duration_ms(info.execution_time_ms)
    if info.status == JobStatus.RUNNING:
        seconds = seconds_between(info.started_at, None)
        return DASH if seconds is None else human_duration_ms(seconds * 1000)
    if info.status == JobStatus.QUEUED:
        seconds = seconds_between(info.created_at, None)
        return DASH if seconds is None else f"waiting {human_duration_ms(seconds * 1000)}"
    return DASH


@dataclasses.dataclass(frozen=True)
class JobRow:
    job_id: str = ""
    sql: str = ""
    engine: str = ""
    status: str = ""
    created: str = ""
    duration: str = ""
    rows: str = ""
    bytes: str = ""
    priority: int = 1
    user: str = ""
    kind: str = "query"


def job_row(info: JobPublic) -> JobRow:
    sql = " ".join(info.sql.split())
    if len(sql) > SQL_PREVIEW_CHARS:
        sql = sql[: SQL_PREVIEW_CHARS - 1] + "…"
    return JobRow(job_id=info.job_id, sql=sql, engine=info.engine, status=info.status.value,
                  created=local_time(info.created_at), duration=elapsed(info),
                  rows=human_count(info.rows_returned), bytes=human_bytes(info.bytes_processed),
                  priority=info.priority, user=info.user, kind=info.kind.value)


def fetch_rows(status: str, engine: str, search: str, offset: int, user: Principal) -> tuple[list[JobRow], int]:
    """One page of the history the caller may see: their own jobs (admins: everyone's)."""
    queries = app_core().queries
    jobs, total = queries.list(status=None if status == ALL else status, engine=None if engine == ALL else engine,
                               search=search.strip() or None, limit=PAGE_SIZE, offset=offset, user=user)
    return [job_row(queries.describe(job)) for job in jobs], total


class JobsState(PagingMixin, AuthState):
    """The job history table and its filters (the offset, total and pager: ``PagingMixin``)."""

    PAGE_SIZE: ClassVar[int] = PAGE_SIZE
    EMPTY_LABEL: ClassVar[str] = "No jobs"

    rows: list[JobRow] = []
    status_filter: str = ALL
    engine_filter: str = ALL
    search: str = ""
    load_error: str = ""
    loaded: bool = False
    _generation: int = 0

    def _filters(self) -> tuple[str, str, str, int]:
        return self.status_filter, self.engine_filter, self.search, self.offset

    def _apply(self, rows: list[JobRow], total: int) -> None:
        # Assign only what changed: an unchanged poll then sends nothing to the browser.
        if rows != self.rows:
            self.rows = rows
        self._set_page(len(rows), total)
        if self.load_error:
            self.load_error = ""
        self.loaded = True

    def _restart(self):
        """A new watcher whose first round reads the history at once (in a worker thread, as every round)."""
        self._generation += 1
        return JobsState.watch(self._generation)

    @rx.event
    def set_status_filter(self, value: str):
        self.status_filter, self.offset = value, 0
        return self._restart()

    @rx.event
    def set_engine_filter(self, value: str):
        self.engine_filter, self.offset = value, 0
        return self._restart()

    @rx.event
    def set_search(self, value: str):
        self.search, self.offset = value, 0
        return self._restart()

    @rx.event
    def clear_filters(self):
        self.status_filter, self.engine_filter, self.search, self.offset = ALL, ALL, "", 0
        return self._restart()

    @rx.event
    def previous_page(self):
        self._turn_page(forward=False)
        return self._restart()

    @rx.event
    def next_page(self):
        self._turn_page(forward=True)
        return self._restart()

    @rx.event
    def start_watching(self):
        return self._restart()

    @rx.event
    def stop_watching(self) -> None:
        self._generation += 1

    @rx.event(background=True)
    async def watch(self, generation: int):
        def read() -> tuple[tuple[str, str, str, int], tuple[str, str | None]] | None:
            if self._generation != generation:
                return None
            return self._filters(), self._credentials()

        async def fetch(inputs: tuple[tuple[str, str, str, int], tuple[str, str | None]]) -> tuple[Any, ...]:
            filters, credentials = inputs
            try:
                # Asked anew on every poll: a revoked token or a deactivated user stops seeing the history.
                rows, total = await asyncio.to_thread(acting, credentials, fetch_rows, *filters)
                return rows, total, ""
            except BqliteError as exc:
                return [], 0, exc.detail
            except Exception as exc:  # the page must keep polling through a transient failure
                log.exception("job history refresh failed")
                return [], 0, f"Could not read the job history: {exc}"

        def apply(inputs: tuple[tuple[str, str, str, int], Any], answer: tuple[Any, ...]) -> Applied:
            if self._generation != generation:
                return DONE
            rows, total, error = answer
            if self._filters() == inputs[0]:  # the filters did not change while we read
                if error:
                    self.load_error = error
                else:
                    self._apply(rows, total)
            return NEXT

        async for event in poll(self, read=read, fetch=fetch, apply=apply, pause=lambda *_: asyncio.sleep(POLL_S),
                                stop_when_tab_closed=True):
            yield event


@dataclasses.dataclass(frozen=True)
class JobView:
    job_id: str = ""
    sql: str = ""
    engine: str = ""
    status: str = ""
    priority: int = 1
    slots: int = 1
    max_execution_time: str = ""
    created: str = DASH
    started: str = DASH
    finished: str = DASH
    waited: str = DASH
    duration: str = DASH
    rows: str = DASH
    bytes: str = DASH
    error: str = ""
    error_position: str = ""
    progress: int = 0
    queue_position: str = ""
    labels: str = ""
    parameters: str = ""
    finished_flag: bool = False
    user: str = ""


def parameters_line(parameters: list[dict[str, Any]]) -> str:
    """``@kind INT64 = 1 · @since DATE = NULL``: the values the engine bound, as the job stores them."""
    def shown(value: Any) -> str:
        return "NULL" if value is None else value if isinstance(value, str) else json.dumps(value)

    return " · ".join(f"@{p.get('name')} {p.get('type')} = {shown(p.get('value'))}" for p in parameters)


def job_view(info: JobPublic) -> JobView:
    waited = seconds_between(info.created_at, info.started_at or info.completed_at)
    return JobView(
        job_id=info.job_id, sql=info.sql, engine=info.engine, status=info.status.value,
        priority=info.priority, slots=info.estimated_slots,
        max_execution_time=human_duration_ms(info.max_execution_time * 1000),
        created=local_time(info.created_at), started=local_time(info.started_at),
        finished=local_time(info.completed_at),
        waited=DASH if waited is None else human_duration_ms(waited * 1000), duration=elapsed(info),
        rows=human_count(info.rows_returned), bytes=human_bytes(info.bytes_processed),
        error=info.error or "",
        error_position="" if info.error_position is None else f"at character {info.error_position}",
        progress=round(100 * (info.progress or 0)),
        queue_position="" if info.queue_position is None else f"#{info.queue_position} in the queue",
        labels=", ".join(f"{k}={v}" for k, v in sorted(info.labels.items())),
        parameters=parameters_line(info.parameters),
        finished_flag=info.status.finished, user=info.user,
    )


def read_job(job_id: str, user: Principal) -> JobView:
    return job_view(app_core().queries.describe(app_core().queries.get(job_id, user=user)))


def read_plan(job_id: str, user: Principal) -> PlanView:
    return read_plan_view(job_id, user)


def cancel_job(job_id: str, user: Principal) -> JobView:
    """Cancel the caller's job (waits up to two seconds for the engine to stop it) and read it again."""
    app_core().queries.cancel(job_id, user=user)
    return read_job(job_id, user)


class JobDetailState(AuthState):
    """One job: its SQL, timings, numbers, error and plan, with Re-run, Open in editor and Cancel."""

    job: JobView = JobView()
    not_found: str = ""
    plan: str = ""
    plan_error: str = ""
    plan_loading: bool = False
    # The execution graph of the job's run (``state.plan_graph``): its operators as indented rows.
    graph_rows: list[GraphRow] = []
    graph_status: str = ""
    graph_note: str = ""
    graph_summary: str = ""
    action_error: str = ""
    # "rerun" or "cancel" while one is under way: the buttons show it, and a second click starts nothing.
    acting_on: str = ""
    _generation: int = 0

    @rx.var
    def editor_url(self) -> str:
        # The workspace opens ?job=<id> in a tab with that job's SQL and engine.
        return f"/?job={quote(self.job.job_id, safe='')}"

    @rx.var
    def cancellable(self) -> bool:
        return self.job.status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value)

    @rx.event
    def load(self):
        job_id = route_tail(self.router.url.path)
        self._generation += 1
        self.job, self.not_found, self.action_error, self.acting_on = JobView(job_id=job_id), "", "", ""
        self.plan, self.plan_error, self.plan_loading = "", "", True
        self.graph_rows, self.graph_status, self.graph_note, self.graph_summary = [], "", "", ""
        return JobDetailState.watch(self._generation)

    @rx.event
    def stop_watching(self) -> None:
        self._generation += 1

    @rx.event(background=True)
    async def watch(self, generation: int):
        """Read the job at once, then refresh it until it finishes (or the page is left)."""

        def read() -> tuple[str, tuple[str, str | None]] | None:
            return None if self._generation != generation else (self.job.job_id, self._credentials())

        async def fetch(inputs: tuple[str, tuple[str, str | None]]) -> JobView | BqliteError:
            job_id, credentials = inputs
            try:
                return await asyncio.to_thread(acting, credentials, read_job, job_id)
            except BqliteError as exc:
                return exc

        def apply(inputs: tuple[str, Any], answer: JobView | BqliteError) -> Applied:
            if self._generation != generation:
                return DONE
            first = not self.job.status      # the page's first read of this job
            if isinstance(answer, BqliteError):
                if first:                    # no such job, or not the caller's to see
                    self.not_found, self.plan_loading = answer.detail, False
                return DONE
            # The run's graph exists once the job ends: the plan is read again then.
            just_finished = not first and answer.finished_flag and not self.job.finished_flag
            if answer != self.job:
                self.job = answer
            return Applied(done=answer.finished_flag,
                           events=(JobDetailState.load_plan(generation),) if first or just_finished else ())

        async for event in poll(self, read=read, fetch=fetch, apply=apply,
                                pause=lambda *_: asyncio.sleep(POLL_S / 2), stop_when_tab_closed=True):
            yield event

    @rx.event(background=True)
    async def load_plan(self, generation: int):
        async with self:
            job_id = self.job.job_id
            credentials = self._credentials()
        view, error = PlanView(), ""
        for attempt in range(GRAPH_ATTEMPTS):
            try:
                view = await asyncio.to_thread(acting, credentials, read_plan, job_id)
            except BqliteError as exc:
                error = exc.detail
            except Exception as exc:  # EXPLAIN of a query that never parsed: say so instead of failing the page
                error = str(exc) or type(exc).__name__
            # A finished ClickHouse run's profile reaches the engine's logs a moment after the job ends.
            if error or view.status != "pending" or view.note.startswith("The job has not finished") \
                    or attempt == GRAPH_ATTEMPTS - 1:
                break
            await asyncio.sleep(GRAPH_RETRY_S)
        async with self:
            if self._generation == generation:
                self.plan, self.plan_error, self.plan_loading = view.text, error or view.text_error, False
                self.graph_rows, self.graph_status = list(view.rows), view.status
                self.graph_note, self.graph_summary = view.note, view.summary

    @rx.event(background=True)
    async def rerun(self):
        async with self:
            if self.acting_on:
                return
            self.acting_on, self.action_error = "rerun", ""
            job_id, credentials = self.job.job_id, self._credentials()
        new: Job | None = None
        try:
            # A submit writes to SQLite, which may wait on a lock: in a worker thread.
            new = await asyncio.to_thread(acting, credentials, app_core().queries.rerun, job_id)
        except BqliteError as exc:
            async with self:
                self.action_error = exc.detail
        finally:
            async with self:
                self.acting_on = ""
        if new is not None:
            yield rx.redirect(f"/jobs/{new.job_id}")

    @rx.event(background=True)
    async def cancel(self):
        async with self:
            if self.acting_on:
                return
            self.acting_on, self.action_error = "cancel", ""
            job_id, credentials, generation = self.job.job_id, self._credentials(), self._generation
        view: JobView | None = None
        try:
            # A cancel waits up to two seconds for the engine to stop the query: in a worker thread.
            view = await asyncio.to_thread(acting, credentials, cancel_job, job_id)
        except BqliteError as exc:
            async with self:
                if self._generation == generation:
                    self.action_error = exc.detail
        finally:
            async with self:
                self.acting_on = ""
                if view is not None and self._generation == generation:
                    self.job = view
        if view is not None:
            yield rx.toast.info(f"Cancel requested for {job_id}")
