"""The SQL workspace: query tabs, the editor, the run controls and dry runs. Running the query and following its
job is ``state/run.py``'s ``RunMixin``; the job panel and its result page are ``state/results.py``'s ``ResultsMixin``.

Every call goes to the core in process (``bqlite_app.core.app_core()``). Slow calls run in worker threads from
background events, which hold ``async with self`` only for short reads and writes of the state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from typing import Any

import reflex as rx

from bqlite_app.access.principal import Principal
from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError
from bqlite_app.examples import examples_for
from bqlite_app.humanize import human_bytes
from bqlite_app.jobs.service import QuerySpec
from bqlite_app.settings import get_settings
from bqlite_app.state.auth import AuthState, acting
from bqlite_app.state.catalog import CatalogState
from bqlite_app.state.chart import ChartMixin
from bqlite_app.state.inspector import InspectorMixin
from bqlite_app.state.params import KeysMixin, ParamsMixin
from bqlite_app.state.results import ResultsMixin, line_and_column
from bqlite_app.state.run import RunMixin
from bqlite_app.state.saved import SavedMixin

ENGINES = list(app_core().engines)
# The picker names where each engine runs: "ClickHouse (server db1:8123)" or "ClickHouse (embedded)".
ENGINE_CHOICES = [(name, engine.info().label) for name, engine in app_core().engines.items()]
PRIORITIES = ["1", "2", "3", "4", "5"]
DEFAULT_SQL = "SELECT *\nFROM nyc_taxi\nLIMIT 100"
DEFAULT_TIMEOUT_S = str(get_settings().default_timeout_s)
MAX_TABS = 20


@dataclasses.dataclass
class QueryTab:
    id: str
    title: str
    sql: str = ""
    engine: str = ENGINES[0]
    job_id: str = ""


def _tabs_from_json(text: str) -> tuple[list[QueryTab], str]:
    """Tabs saved in the browser's localStorage; anything unreadable gives no tabs."""
    try:
        saved = json.loads(text) if text else {}
        tabs = [QueryTab(id=str(t["id"]), title=str(t["title"]), sql=str(t.get("sql", "")),
                         engine=t.get("engine") if t.get("engine") in ENGINES else ENGINES[0],
                         job_id=str(t.get("job_id") or "")) for t in saved.get("tabs", [])][:MAX_TABS]
        return tabs, str(saved.get("active", ""))
    except (ValueError, TypeError, KeyError, AttributeError):
        return [], ""


def linked_job(job_id: str, user: Principal) -> tuple[str, str, list[dict[str, Any]]]:
    """The SQL, engine and parameters of ``user``'s job ``job_id``, which a ``/?job=<id>`` link opens (else
    JobNotFound)."""
    job = app_core().queries.get(job_id, user=user)
    return job.sql, job.engine, list(job.parameters or ())


# ChartMixin and InspectorMixin come before ResultsMixin: they extend its _apply_page / _clear_result (super()).
class WorkspaceState(RunMixin, InspectorMixin, ChartMixin, ResultsMixin, ParamsMixin, KeysMixin, SavedMixin,
                     AuthState):
    """One browser tab's workspace: query tabs, the editor, the run controls and dry runs (running: ``RunMixin``)."""

    tabs: list[QueryTab] = []
    active_id: str = ""
    # Tabs survive a reload and a backend restart: the browser keeps them.
    saved_tabs: str = rx.LocalStorage("", name="bqlite.workspace.tabs")

    # The editor owns its text (see components/sql_editor.jsx): `editor_text` is what it shows when it mounts, and
    # `editor_command` is how the state changes it afterwards.
    editor_text: str = ""
    editor_command: dict[str, Any] = {"seq": 0, "op": "", "text": "", "pos": 0}
    selection: str = ""

    priority: str = "1"
    timeout_s: str = DEFAULT_TIMEOUT_S

    dry_run_valid: bool = True
    dry_run_message: str = ""
    dry_run_where: str = ""

    _dry_run_seq: int = 0

    # -- derived ------------------------------------------------------------------------------------------------

    @rx.var
    def engine(self) -> str:
        tab = self._active_tab()
        return tab.engine if tab else ENGINES[0]

    @rx.var
    def examples(self) -> list[dict[str, str]]:
        return examples_for(self.engine)

    # -- page load ----------------------------------------------------------------------------------------------

    @rx.event
    async def load_page(self):
        if not self.tabs:
            self.tabs, self.active_id = _tabs_from_json(self.saved_tabs)
        if not self.tabs:
            self.tabs = [QueryTab(id="t1", title="Query 1", sql=DEFAULT_SQL)]
        if self.active_id not in {t.id for t in self.tabs}:
            self.active_id = self.tabs[0].id
        self._load_params()
        params = self.router.url.query_parameters
        job_id, sql, engine = params.get("job", ""), params.get("sql", ""), params.get("engine", "")
        job_parameters: list[dict[str, Any]] = []
        if job_id:
            try:
                # The job store is SQLite, which may wait on a lock: in a worker thread, as every core call.
                sql, engine, job_parameters = await asyncio.to_thread(acting, self._credentials(), linked_job,
                                                                      job_id)
            except BqliteError:
                job_id = ""
        if job_id or sql:
            self._open_from_link(job_id, sql, engine)
            self._adopt_params(job_parameters)
        self._show_active_tab()
        events: list[Any] = [CatalogState.load, WorkspaceState.dry_run, WorkspaceState.load_saved]
        if params.get("job") or params.get("sql"):
            events.append(rx.redirect("/", replace=True))  # a reload must not open the link again
        if self.job_id and not self.job_settled:
            events.append(WorkspaceState.watch_job)
        return events

    def _open_from_link(self, job_id: str, sql: str, engine: str) -> None:
        """``/?job=<id>`` or ``/?sql=...&engine=...`` (links from the jobs and schema pages) open in a tab; for a
        job, ``sql`` and ``engine`` are the job's (``linked_job``)."""
        if not sql:
            return
        engine = engine if engine in ENGINES else ENGINES[0]
        same = next((t for t in self.tabs if t.sql == sql and t.engine == engine), None)
        if same is not None:
            self.active_id = same.id
            if job_id:
                self._update_tab(job_id=job_id)
        else:
            self._add_tab(sql, engine, title=f"Job {job_id[4:12]}" if job_id else "", job_id=job_id)

    # -- tabs ---------------------------------------------------------------------------------------------------

    def _active_tab(self) -> QueryTab | None:
        return next((t for t in self.tabs if t.id == self.active_id), None)

    def _update_tab(self, **changes: Any) -> None:
        self.tabs = [dataclasses.replace(t, **changes) if t.id == self.active_id else t for t in self.tabs]
        self._save_tabs()

    def _save_tabs(self) -> None:
        self.saved_tabs = json.dumps({"active": self.active_id, "tabs": [dataclasses.asdict(t) for t in self.tabs]})

    def _add_tab(self, sql: str, engine: str, *, title: str = "", job_id: str = "") -> None:
        if len(self.tabs) >= MAX_TABS:
            # Recycle the oldest tab rather than grow without bound.
            self.tabs = self.tabs[1:]
        numbers = [int(m.group(1)) for t in self.tabs if (m := re.fullmatch(r"t(\d+)", t.id))]
        number = max(numbers, default=0) + 1
        tab = QueryTab(id=f"t{number}", title=title or f"Query {number}", sql=sql, engine=engine, job_id=job_id)
        self.tabs = [*self.tabs, tab]
        self.active_id = tab.id
        self._save_tabs()

    def _show_active_tab(self) -> None:
        """Put the active tab's SQL in the editor and its last job in the results panel."""
        tab = self._active_tab()
        if tab is None:
            return
        self._set_editor(tab.sql)
        self._clear_job()
        self.dry_run_message, self.dry_run_where, self.dry_run_valid = "", "", True
        if tab.job_id:
            self.job_id = tab.job_id
            self.job_settled = False
            self.job_status = "loading"

    def _set_editor(self, text: str) -> None:
        self.editor_text = text
        self.selection = ""
        self._command("set", text=text)

    def _command(self, op: str, *, text: str = "", pos: int = 0) -> None:
        self.editor_command = {"seq": self.editor_command["seq"] + 1, "op": op, "text": text, "pos": pos}

    @rx.event
    def new_tab(self):
        self._add_tab("", self.engine)
        self._show_active_tab()

    @rx.event
    def select_tab(self, tab_id: str):
        if tab_id == self.active_id or tab_id not in {t.id for t in self.tabs}:
            return None
        self.active_id = tab_id
        self._save_tabs()
        self._show_active_tab()
        return [WorkspaceState.dry_run, WorkspaceState.watch_job]

    @rx.event
    def close_tab(self, tab_id: str):
        remaining = [t for t in self.tabs if t.id != tab_id]
        if not remaining:
            remaining = [QueryTab(id="t1", title="Query 1", sql="")]
        was_active = tab_id == self.active_id
        index = next((i for i, t in enumerate(self.tabs) if t.id == tab_id), 0)
        self.tabs = remaining
        if was_active or self.active_id not in {t.id for t in remaining}:
            self.active_id = remaining[min(index, len(remaining) - 1)].id
            self._save_tabs()
            self._show_active_tab()
            return [WorkspaceState.dry_run, WorkspaceState.watch_job]
        self._save_tabs()
        return None

    @rx.event
    def load_example(self, title: str, sql: str, engine: str):
        """A sample query opens in a new tab (the current tab's SQL is never overwritten)."""
        self._add_tab(sql, engine if engine in ENGINES else self.engine, title=title)
        self._show_active_tab()
        return WorkspaceState.dry_run

    # -- editor and controls ------------------------------------------------------------------------------------

    @rx.event
    def editor_changed(self, text: str, selection: str):
        """The editor's text or selection changed (debounced). The dry run follows what Run would run."""
        changed = selection != self.selection
        self.selection = selection
        tab = self._active_tab()
        if tab is None:
            return None
        if tab.sql != text:
            self.editor_text = text
            self._update_tab(sql=text)
            changed = True
        return WorkspaceState.dry_run if changed else None

    @rx.event
    def run_from_editor(self, text: str, selection: str):
        """Ctrl+Enter / Cmd+Enter in the editor: run the selection, or the whole text."""
        self.selection = selection
        self.editor_text = text
        self._update_tab(sql=text)
        return [WorkspaceState.run_query, WorkspaceState.dry_run]

    @rx.event
    def insert_text(self, text: str):
        self._command("insert", text=text)

    @rx.event
    def format_sql(self):
        self._command("format")

    @rx.event
    def go_to_error(self):
        if self.job_error_position:
            self._command("goto", pos=self.job_error_position)

    @rx.event
    def set_engine(self, engine: str):
        if engine in ENGINES and engine != self.engine:
            self._update_tab(engine=engine)
            return WorkspaceState.dry_run
        return None

    @rx.event
    def set_priority(self, priority: str):
        self.priority = priority if priority in PRIORITIES else "1"

    @rx.event
    def set_timeout_s(self, value: str):
        self.timeout_s = value

    def _query_text(self) -> str:
        tab = self._active_tab()
        return (self.selection.strip() or (tab.sql if tab else "")).strip()

    # -- what RunMixin runs, and which tab its job belongs to ---------------------------------------------------

    def _run_spec(self) -> QuerySpec | None:
        sql = self._query_text()
        if not sql:
            return None
        try:
            timeout: int | None = int(self.timeout_s)
        except ValueError:
            timeout = None   # QueryService.submit applies the default
        return QuerySpec(sql=sql, engine=self.engine, priority=int(self.priority), max_execution_time=timeout,
                         parameters=tuple(self._param_list()))

    def _job_started(self, tab_id: str, job_id: str) -> None:
        self.tabs = [dataclasses.replace(t, job_id=job_id) if t.id == tab_id else t for t in self.tabs]
        self._save_tabs()

    def _job_forgotten(self, job_id: str) -> None:
        self.tabs = [dataclasses.replace(t, job_id="") if t.job_id == job_id else t for t in self.tabs]
        self._save_tabs()

    # -- dry run ------------------------------------------------------------------------------------------------

    @rx.event(background=True)
    async def dry_run(self):
        """Validate the query and estimate the bytes it reads. Only the latest request's answer is shown."""
        async with self:
            self._dry_run_seq += 1
            seq, sql, engine = self._dry_run_seq, self._query_text(), self.engine
            parameters = tuple(self._param_list())
            credentials = self._credentials()
            if not sql:
                self.dry_run_message, self.dry_run_where, self.dry_run_valid = "", "", True
                return
        try:
            answer = await asyncio.to_thread(acting, credentials, app_core().queries.dry_run,
                                             QuerySpec(sql=sql, engine=engine, parameters=parameters))
        except BqliteError as exc:
            answer = {"valid": False, "error": exc.detail}
        except Exception as exc:  # an engine hiccup must not break the page: say what happened
            answer = {"valid": False, "error": f"The dry run failed: {exc}"}
        async with self:
            if seq != self._dry_run_seq:
                return
            self.dry_run_valid = bool(answer.get("valid"))
            if self.dry_run_valid:
                size = human_bytes(answer.get("estimated_bytes_processed") or 0)
                self.dry_run_message = f"This query will process {size} when run."
                self.dry_run_where = ""
            else:
                self.dry_run_message = str(answer.get("error") or "The query is not valid.")
                found = line_and_column(sql, answer.get("error_position"))
                self.dry_run_where = f"Line {found[0]}, column {found[1]}" if found else ""
            announcement = self._dry_run_announcement(self.dry_run_valid, self.dry_run_message)
        if announcement is not None:
            yield announcement
