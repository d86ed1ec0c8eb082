"""Waiting for a job: a live status line with elapsed time on stderr, and Ctrl+C that offers to cancel the job."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

from bqlite_app.cli.errors import ApiError, Interrupted
from bqlite_app.cli.output import live_progress

if TYPE_CHECKING:
    from bqlite_app.cli.client import ApiClient

FINISHED = {"completed", "failed", "cancelled"}
# Each round trip long-polls the result route this long: a finished job is noticed at once, a long one costs two
# small requests per interval.
POLL_MS = 500
# The submission waits this long for the job to end (``wait_ms``): a small query needs no other request, and the
# status line of a longer one appears after it. Short, as a Ctrl+C during the submission is held until it answers.
SUBMIT_WAIT_MS = 1000


def submit_and_wait(client: ApiClient, body: dict[str, Any],
                    first_rows: int = 1000) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Submit a query and answer its job once it has finished, with Ctrl+C handled as in ``wait_for_job``; and its
    first page of ``first_rows`` rows when the submission itself brought it (None: fetch it).

    The submission waits up to ``SUBMIT_WAIT_MS`` for the job (``wait_ms``), so a small query is one round trip;
    a longer one is then followed with a status line. The server may start the job before its id reaches us, so a
    Ctrl+C during the submission is held until the id is known and then handled like any other: otherwise the job
    would keep running with nobody told its id.
    """
    job_id: str | None = None
    try:
        with _sigint_deferred() as pending:
            answer = client.submit_query({**body, "wait_ms": SUBMIT_WAIT_MS, "max_rows": first_rows})
            job_id = answer["job_id"]
        if pending.is_set():
            raise KeyboardInterrupt
        page = answer.get("result")
        if page is not None and page.get("status") == "completed":
            return _job_of_page(answer, page), page
        # Failed or cancelled (the whole job says where the error points), or still running: ask for the job.
        return _follow(client, job_id), None
    except KeyboardInterrupt:
        if job_id is None:  # only a second Ctrl+C gets here: the user would not wait for the submission
            raise Interrupted("stopped while submitting the query; it may have reached the server",
                              hint="Look for it with `bqlite jobs list`.") from None
        _interrupted(client, job_id)


def _job_of_page(answer: dict[str, Any], page: dict[str, Any]) -> dict[str, Any]:
    """What the result needs of a completed job, from the answer that carried its first page."""
    stats = page.get("execution_stats") or {}
    return {"job_id": answer["job_id"], "status": "completed", "engine": stats.get("engine"),
            "execution_time_ms": stats.get("execution_time_ms"), "bytes_processed": stats.get("bytes_processed"),
            "rows_returned": page.get("total_rows")}


def wait_for_job(client: ApiClient, job_id: str) -> dict[str, Any]:
    """Answer the job once it has finished. Ctrl+C asks whether to cancel it on the server (see ``_interrupted``)."""
    try:
        return _follow(client, job_id)
    except KeyboardInterrupt:
        _interrupted(client, job_id)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[threading.Event]:
    """Hold a first Ctrl+C (the event is set) until the block ends; a second one interrupts at once."""
    pending = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pending  # signal handlers can only be set from the main thread; nothing to defer elsewhere
        return

    def hold(_signum: int, _frame: FrameType | None) -> None:
        if pending.is_set():
            raise KeyboardInterrupt
        pending.set()

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield pending
    finally:
        signal.signal(signal.SIGINT, previous)


def _follow(client: ApiClient, job_id: str) -> dict[str, Any]:
    job = client.job(job_id)
    if job["status"] in FINISHED:
        return job
    with live_progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
                       TimeElapsedColumn()) as progress:
        task = progress.add_task(_describe(job), total=None)
        while job["status"] not in FINISHED:
            fraction = job.get("progress")
            progress.update(task, description=_describe(job), total=None if fraction is None else 1,
                            completed=fraction or 0)
            client.result_page(job_id, limit=1, timeout_ms=POLL_MS)
            job = client.job(job_id)
    return job


def _describe(job: dict[str, Any]) -> str:
    name = f"Job {job['job_id']}"
    if job["status"] == "queued":
        position = job.get("queue_position")
        return f"{name} queued" + (f" (position {position})" if position else "")
    progress = job.get("progress")
    return f"{name} running on {job['engine']}" + (f" · {progress:.0%}" if progress is not None else "")


def _interrupted(client: ApiClient, job_id: str) -> NoReturn:
    """Cancel on the server if the user agrees; with no terminal to ask on, the interrupt itself is the answer."""
    if sys.stdin.isatty():
        try:
            cancel = typer.confirm(f"\nCancel job {job_id} on the server?", default=True, err=True)
        except (typer.Abort, KeyboardInterrupt):
            cancel = False
    else:
        cancel = True
    if not cancel:
        raise Interrupted(f"job {job_id} keeps running on the server",
                          hint=f"Follow it with `bqlite jobs show {job_id}`; stop it with `bqlite jobs cancel "
                          f"{job_id}`.")
    try:
        job = client.cancel(job_id)
    except ApiError as exc:
        if exc.error_code != "JOB_ALREADY_FINISHED":
            raise
        raise Interrupted(f"job {job_id} had already finished",
                          hint=f"Its result: `bqlite jobs result {job_id}`.") from None
    if job["status"] == "cancelled":
        raise Interrupted(f"job {job_id} cancelled on the server")
    raise Interrupted(f"asked the server to cancel job {job_id}; it is {job['status']}",
                      hint=f"Check it with `bqlite jobs show {job_id}`.")
