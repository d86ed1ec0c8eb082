"""Waiting for a job: a live status line with elapsed time on stderr, and Ctrl+C that offers to cancel the job."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

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


def wait_for_job(client: ApiClient, job_id: str) -> dict[str, Any]:
    """Answer the job once it has finished. Ctrl+C asks whether to cancel it on the server (see ``_interrupted``)."""
    job = client.job(job_id)
    if job["status"] in FINISHED:
        return job
    try:
        with live_progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
                           TimeElapsedColumn()) as progress:
            task = progress.add_task(_describe(job), total=None)
            while job["status"] not in FINISHED:
                fraction = job.get("progress")
                progress.update(task, description=_describe(job), total=None if fraction is None else 1,
                                completed=fraction or 0)
                client.result_page(job_id, limit=1, timeout_ms=POLL_MS)
                job = client.job(job_id)
    except KeyboardInterrupt:
        _interrupted(client, job_id)
    return job


def _describe(job: dict[str, Any]) -> str:
    name = f"Job {job['job_id']}"
    if job["status"] == "queued":
        position = job.get("queue_position")
        return f"{name} queued" + (f" (position {position})" if position else "")
    progress = job.get("progress")
    return f"{name} running on {job['engine']}" + (f" · {progress:.0%}" if progress is not None else "")


def _interrupted(client: ApiClient, job_id: str) -> None:
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
