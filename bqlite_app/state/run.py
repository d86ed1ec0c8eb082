"""Running the workspace's query and following its job: submit, wait, poll until the first page is in, cancel.

``RunMixin`` is the run half of ``WorkspaceState``; the tabs, the editor and the controls (``workspace.py``) tell it
what to run through ``_run_spec`` and hear which tab a job belongs to through ``_job_started`` / ``_job_forgotten``.
Every core call runs outside ``async with self``: in a worker thread, or as a wait on the event loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from bqlite_app.access.principal import Principal
from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError, JobNotFound
from bqlite_app.jobs.service import QuerySpec
from bqlite_app.state.auth import acting, authenticate
from bqlite_app.state.catalog import CatalogState
from bqlite_app.state.polling import NEXT, Applied, poll
from bqlite_app.state.results import ACTIVE, JobSnapshot, snapshot_job
from bqlite_app.state.status import StatusState

POLL_S = 0.25
FIRST_WAIT_S = POLL_S   # after a submit, the run waits this long for the job before its first read
# Statements that change what the explorer shows: the catalog is reloaded when one of them completes.
_CHANGES_CATALOG = re.compile(r"^\s*(create|drop|alter|rename|attach|detach|truncate|insert|copy|exchange)\b",
                              re.IGNORECASE | re.MULTILINE)

Inputs = tuple[str, int, tuple[str, str | None]]          # job id, page size, credentials
Answer = tuple[Principal, JobSnapshot] | Exception


class RunMixin(rx.State, mixin=True):
    """Run, follow and cancel the shown job (the job panel and its result are ``ResultsMixin``'s)."""

    _submitting: bool = False
    _watching: bool = False

    # -- what the workspace provides ----------------------------------------------------------------------------

    def _run_spec(self) -> QuerySpec | None:
        """The query Run would submit now (None when there is no text)."""
        raise NotImplementedError

    def _job_started(self, tab_id: str, job_id: str) -> None:
        """``job_id`` now belongs to the query tab ``tab_id``."""
        raise NotImplementedError

    def _job_forgotten(self, job_id: str) -> None:
        """``job_id`` is unknown to this backend (a tab saved by the browser): no tab names it any more."""
        raise NotImplementedError

    def _busy(self) -> bool:
        return self.job_status in ACTIVE or self.job_status == "submitting"  # type: ignore[attr-defined]

    # -- events -------------------------------------------------------------------------------------------------

    @rx.event(background=True)
    async def run_query(self):
        state: Any = self  # the concrete WorkspaceState, with ResultsMixin's job panel
        async with self:
            if self._submitting or self._busy():
                return
            spec = self._run_spec()
            if spec is None:
                state._clear_job()
                state.job_status, state.job_error = "failed", "Write a query first."
                return
            tab_id, credentials = state.active_id, state._credentials()
            self._submitting = True
            state._clear_job()
            state.job_status, state.job_sql, state.job_engine = "submitting", spec.sql, spec.engine
            state.job_settled = False
        job, user, error = None, None, "The query was not submitted."
        try:
            user = await asyncio.to_thread(authenticate, *credentials)
            job = await asyncio.to_thread(app_core().queries.submit, spec, user=user)
        except BqliteError as exc:          # e.g. an unknown engine, an empty query, or ACCESS_DENIED
            error = exc.detail
        except Exception as exc:            # a broken backend: show it rather than spin forever
            error = f"The query was not submitted: {exc}"
        finally:
            async with self:
                self._submitting = False
                shown = state.active_id == tab_id
                if job is None:
                    if shown:
                        state.job_status, state.job_error, state.job_settled = "failed", error, True
                else:
                    if shown:
                        state.job_id, state.job_status = job.job_id, "queued"
                    self._job_started(tab_id, job.job_id)
        if job is None or user is None:
            return
        yield StatusState.refresh
        # As POST /queries with wait_ms does for the API: a small job is done within moments, so wait for it here
        # (on the event loop, no thread parked) and the follower's first read finds it finished with its first page.
        try:
            await app_core().queries.wait_async(job.job_id, FIRST_WAIT_S, user=user)
        except BqliteError:
            pass  # the follower reads the job and says what happened
        async for event in self._follow():
            yield event

    @rx.event(background=True)
    async def watch_job(self):
        async for event in self._follow():
            yield event

    @rx.event(background=True)
    async def cancel_query(self):
        state: Any = self
        async with self:
            job_id = state.job_id
            if not job_id or not self._busy():
                return
            credentials = state._credentials()
        try:
            await asyncio.to_thread(acting, credentials, app_core().queries.cancel, job_id)
        except BqliteError:
            pass  # it finished meanwhile: the follower shows how

    # -- the follower -------------------------------------------------------------------------------------------

    def _follow(self) -> AsyncIterator[Any]:
        """Poll the shown job until it has finished and its first page is loaded.

        At most one follower runs per browser tab (the ``_watching`` guard); it always follows whatever job is shown
        now, so switching tabs needs no second poller.
        """
        state: Any = self  # the concrete WorkspaceState, with ResultsMixin's job panel

        def read() -> Inputs | None:
            if not state.job_id or state.job_settled:
                return None
            return state.job_id, state.page_size, state._credentials()

        async def fetch(inputs: Inputs) -> Answer:
            job_id, limit, credentials = inputs
            try:
                # Asked on every round: a token revoked meanwhile stops the follower.
                user = await asyncio.to_thread(authenticate, *credentials)
                return user, await asyncio.to_thread(snapshot_job, job_id, 0, limit, user)
            except Exception as exc:
                return exc

        def apply(inputs: Inputs, answer: Answer) -> Applied:
            job_id = inputs[0]
            if isinstance(answer, JobNotFound):  # a tab saved by the browser names a job this backend never ran
                if state.job_id == job_id:
                    state._clear_job()
                    self._job_forgotten(job_id)
                return NEXT
            if isinstance(answer, Exception):
                if state.job_id == job_id:
                    state._clear_job()
                    state.job_status, state.job_error = "failed", getattr(answer, "detail", str(answer))
                return NEXT
            snap = answer[1]
            if state.job_id != job_id:
                return NEXT
            state._apply_snapshot(snap)
            if not snap.finished:
                return NEXT
            if snap.status == "completed" and _CHANGES_CATALOG.search(snap.info.sql):
                return Applied(events=(StatusState.refresh, CatalogState.load))
            return Applied(events=(StatusState.refresh,))

        async def pause(inputs: Inputs, answer: Answer) -> None:
            if isinstance(answer, Exception) or answer[1].finished:
                return  # the next read sees what to do now
            try:
                # Wakes the moment the job finishes; a running job's progress is read again every POLL_S.
                await app_core().queries.wait_async(inputs[0], POLL_S, user=answer[0])
            except BqliteError:
                pass  # the next round reads the job again and says what happened

        return poll(self, read=read, fetch=fetch, apply=apply, pause=pause, guard="_watching")
