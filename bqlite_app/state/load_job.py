"""The "Load data" dialog's load job: follow it to the end, show its progress, cancel it; and the dialog's error
callout, which the job and the file both report to.

``LoadJobMixin`` is the job half of ``LoadState`` (``state/loads.py``), which submits the job and hands it here
through ``_follow``. Every core call runs outside ``async with self``: in a worker thread, or as a wait on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from bqlite_app.access.principal import Principal
from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError
from bqlite_app.jobs.models import JobPublic, JobStatus
from bqlite_app.state import load_work
from bqlite_app.state.auth import acting, authenticate
from bqlite_app.state.catalog import CatalogState
from bqlite_app.state.load_form import JOB_PHASES, error_of, job_view
from bqlite_app.state.polling import DONE, NEXT, Applied, poll
from bqlite_app.state.results import ACTIVE
from bqlite_app.state.status import StatusState

POLL_S = 0.25
Answer = tuple[Principal, JobPublic] | Exception


class LoadJobMixin(rx.State, mixin=True):
    """The load job the dialog follows, and what went wrong."""

    # Errors (bad file, bad names, access denied): a title and the detail line by line.
    error_title: str = ""
    error_detail: list[str] = []

    # The load job.
    submitting: bool = False
    job_id: str = ""
    job_status: str = ""
    job_percent: int = -1
    job_elapsed: str = ""
    job_summary: str = ""
    loaded_dataset: str = ""
    loaded_table: str = ""
    loaded_engine: str = ""

    # -- derived -----------------------------------------------------------------------------------------------

    @rx.var
    def loading(self) -> bool:
        return self.submitting or self.job_status in ACTIVE

    @rx.var
    def done(self) -> bool:
        return self.job_status == JobStatus.COMPLETED.value

    @rx.var
    def job_phase(self) -> str:
        return JOB_PHASES.get(self.job_status, self.job_status)

    # -- helpers -----------------------------------------------------------------------------------------------

    def _set_error(self, exc: BaseException) -> None:
        self.error_title, self.error_detail = error_of(exc)

    def _clear_error(self) -> None:
        self.error_title, self.error_detail = "", []

    def _clear_job(self) -> None:
        self.job_id = self.job_status = self.job_elapsed = self.job_summary = ""
        self.job_percent = -1
        self.loaded_dataset = self.loaded_table = self.loaded_engine = ""

    def _apply_job(self, job: JobPublic) -> None:
        view = job_view(job, f"{self.loaded_dataset}.{self.loaded_table} ({self.loaded_engine})")
        self.job_status, self.job_percent, self.job_elapsed = view.status, view.percent, view.elapsed
        if view.summary:
            self.job_summary = view.summary
        if view.error_title:
            self.error_title, self.error_detail = view.error_title, view.error_detail

    # -- following and cancelling ------------------------------------------------------------------------------

    async def _follow(self, job_id: str, credentials: tuple[str, str | None]) -> AsyncIterator[Any]:
        """Follow the load job until it has finished; then refresh the explorer so the table shows."""

        def read() -> str | None:
            return job_id if self.job_id == job_id else None    # None: the dialog was reset meanwhile

        async def fetch(_: str) -> Answer:
            try:
                # Asked on every round: a token revoked meanwhile stops the follower.
                user = await asyncio.to_thread(authenticate, *credentials)
                return user, await asyncio.to_thread(load_work.describe_job, job_id, user=user)
            except Exception as exc:
                return exc

        def apply(_: str, answer: Answer) -> Applied:
            if self.job_id != job_id:
                return DONE
            if isinstance(answer, Exception):
                self._set_error(answer)
                self.job_status = "failed"
                return DONE
            job = answer[1]
            self._apply_job(job)
            if not JobStatus(job.status).finished:
                return NEXT
            completed = job.status == JobStatus.COMPLETED
            return Applied(done=True, events=(StatusState.refresh, *([CatalogState.load] if completed else [])))

        async def pause(_: str, answer: Answer) -> None:
            if isinstance(answer, Exception):
                return
            with contextlib.suppress(BqliteError):  # the next round reads the job again and says what happened
                await app_core().queries.wait_async(job_id, POLL_S, user=answer[0])

        async for event in poll(self, read=read, fetch=fetch, apply=apply, pause=pause):
            yield event

    @rx.event(background=True)
    async def cancel_load(self):
        state: Any = self  # the concrete LoadState, an AuthState
        async with self:
            job_id, active = self.job_id, self.job_status in ACTIVE
            credentials = state._credentials()
        if job_id and active:
            with contextlib.suppress(BqliteError):  # it finished meanwhile: the follower shows how
                await asyncio.to_thread(acting, credentials, app_core().queries.cancel, job_id)
