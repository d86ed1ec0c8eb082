"""A finished job's rows, wherever they go: a terminal table, text on stdout, or a file.

Whole results in csv, ndjson, parquet, arrow and xlsx are the server's export, streamed chunk by chunk. ``--max-rows``,
json and the table read JSON pages instead. Either way memory holds one chunk or page, never the result.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

from bqlite_app.cli.errors import JobFailed
from bqlite_app.cli.output import emit_json, live_progress, note, out
from bqlite_app.cli.render import DEFAULT_TABLE_ROWS, Column, Page, ResultFormat, write_rows
from bqlite_app.humanize import human_bytes, human_duration_ms

if TYPE_CHECKING:
    from bqlite_app.cli.client import ApiClient, ResultViewParams

PAGE_ROWS = 10_000  # the API's largest JSON page


def _job_failed(job: dict[str, Any]) -> JobFailed:
    """A failed or cancelled job is the command's failure (exit 1), with the engine's message and where it points."""
    error = job.get("error") or "no error message"
    if job["status"] == "cancelled":
        return JobFailed(f"job {job['job_id']} was cancelled: {error}")
    return JobFailed(f"job {job['job_id']} failed: {error}",
                     hint=error_pointer(job.get("sql"), job.get("error_position")))


def check_output_options(fmt: ResultFormat, destination: Path | None, max_rows: int | None) -> None:
    """Refuse combinations that cannot work before anything runs (usage errors, exit 2)."""
    if fmt is ResultFormat.table and destination is not None:
        raise typer.BadParameter("table is for terminals; choose csv, json, ndjson, parquet, arrow or xlsx for a file",
                                 param_hint="--format")
    if fmt.binary and max_rows is not None:
        raise typer.BadParameter(f"does not apply to {fmt.value}: an export holds the whole result",
                                 param_hint="--max-rows")
    if fmt.binary and destination is None and out.is_terminal:
        raise typer.BadParameter(f"{fmt.value} is binary: write it with -o FILE or redirect stdout",
                                 param_hint="--format")


def first_page_rows(fmt: ResultFormat, max_rows: int | None, raw_json: bool) -> int:
    """The size of the first JSON page ``emit_result`` reads with these options (1 when it reads none)."""
    if raw_json:
        return _page_size(max_rows)
    if fmt is ResultFormat.table and max_rows is None:
        max_rows = DEFAULT_TABLE_ROWS
    return 1 if fmt.exported and max_rows is None else _page_size(max_rows)


def emit_result(client: ApiClient, job: dict[str, Any], fmt: ResultFormat, *, destination: Path | None = None,
                max_rows: int | None = None, raw_json: bool = False, first: dict[str, Any] | None = None,
                view: ResultViewParams = ()) -> None:
    """Write a finished job's result (see the module docstring); one line about it goes to stderr.

    ``first``: the first page already in hand, of ``first_page_rows`` rows (the submission brought it).
    ``view``: sort and filter the whole result on the server (``--order-by``/``--filter``).
    A failed or cancelled job raises ``JobFailed`` instead (with --json, after printing the job).
    """
    if job["status"] != "completed":
        if raw_json:
            emit_json(job)
        raise _job_failed(job)
    if raw_json:
        emit_json(first or client.result_page(job["job_id"], limit=_page_size(max_rows), view=view))
        return
    if fmt is ResultFormat.table and max_rows is None:
        max_rows = DEFAULT_TABLE_ROWS
    if fmt.exported and max_rows is None:
        total = job.get("rows_returned") or 0
        if any(name == "filter" for name, _ in view):   # the rows that pass: for the progress bar and the note
            total = client.result_page(job["job_id"], limit=1, view=view)["total_rows"]
        download(client, job, fmt.value, destination, view=view, total_rows=total)
        shown = total
    else:
        rows = fetch_rows(client, job["job_id"], max_rows, first=first, view=view)
        with _atomic(destination, text=True) if destination else nullcontext(sys.stdout) as sink:
            shown = write_rows(fmt, rows.columns, rows.pages, sink)
            sink.flush()
        total = rows.total_rows
    where = f" → {escape(str(destination))} ({human_bytes(destination.stat().st_size)})" if destination else ""
    count = f"{shown:,} of {total:,} rows (--max-rows for more)" if shown < total else f"{shown:,} rows"
    note(f"[dim]{count}{where} · job {job['job_id']} on {job['engine']} · "
         f"{human_duration_ms(job.get('execution_time_ms'))} · {human_bytes(job.get('bytes_processed'))} processed[/]")


@dataclass
class ResultRows:
    columns: list[Column]
    total_rows: int
    pages: Iterator[Page]


def fetch_rows(client: ApiClient, job_id: str, max_rows: int | None, *,
               first: dict[str, Any] | None = None, view: ResultViewParams = ()) -> ResultRows:
    """The result's rows (sorted and filtered by ``view``), page by page as they are consumed; at most ``max_rows``
    of them (None: all). ``first`` is the first page when it is already in hand."""
    first = first or client.result_page(job_id, limit=_page_size(max_rows), view=view)

    def pages() -> Iterator[Page]:
        page, remaining = first, max_rows
        while True:
            rows = page["rows"] if remaining is None else page["rows"][:remaining]
            if rows:
                yield rows
            if remaining is not None:
                remaining -= len(rows)
            if page["next_offset"] is None or remaining == 0:
                return
            page = client.result_page(job_id, offset=page["next_offset"], limit=_page_size(remaining), view=view)

    return ResultRows(columns=first["columns"], total_rows=first["total_rows"], pages=pages())


def download(client: ApiClient, job: dict[str, Any], fmt: str, destination: Path | None, *,
             view: ResultViewParams = (), total_rows: int | None = None) -> None:
    """Stream the server's export of the whole result to ``destination`` (None: stdout) with a progress bar.

    csv and ndjson count rows as lines arrive, so their bar has a true total; parquet and arrow count bytes only.
    """
    total_rows = (job.get("rows_returned") or 0) if total_rows is None else total_rows
    counts_rows = fmt in ("csv", "ndjson") and total_rows > 0
    written = lines = 0
    with ExitStack() as stack:
        # Data streaming onto the same terminal would be torn by a redrawn bar: show it only for files and pipes.
        progress = stack.enter_context(live_progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=30),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
            show=destination is not None or not out.is_terminal))
        task = progress.add_task(f"Downloading {fmt}", total=total_rows if counts_rows else None, detail="")
        response = stack.enter_context(client.export(job["job_id"], fmt, view=view))
        sink = stack.enter_context(_atomic(destination)) if destination else sys.stdout.buffer
        for chunk in response.iter_bytes():
            sink.write(chunk)
            written += len(chunk)
            elapsed = progress.tasks[0].elapsed or 1e-9
            detail = f"{human_bytes(written)} · {human_bytes(int(written / elapsed))}/s"
            if counts_rows:
                lines += chunk.count(b"\n")
                rows = min(lines - (fmt == "csv"), total_rows)  # the csv header is a line too
                progress.update(task, completed=rows, detail=f"{rows:,}/{total_rows:,} rows · {detail}")
            else:
                progress.update(task, detail=detail)
        sink.flush()


class _atomic:
    """Write ``NAME.part`` and rename it over ``NAME`` only on success: a failed or interrupted download leaves no
    half-written file, and an existing file survives until the new one is complete."""

    def __init__(self, destination: Path, *, text: bool = False) -> None:
        self.destination = destination
        self.partial = destination.with_name(destination.name + ".part")
        self.text = text

    def __enter__(self) -> IO[Any]:
        self.file = self.partial.open("w", encoding="utf-8") if self.text else self.partial.open("wb")
        return self.file

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.file.close()
        if exc_type is None:
            self.partial.replace(self.destination)
        else:
            self.partial.unlink(missing_ok=True)


def error_pointer(sql: str | None, position: int | None) -> str | None:
    """The SQL line an engine error points at (1-based character offset), with a caret under the spot."""
    if not sql or not position or position > len(sql) + 1:
        return None
    start = sql.rfind("\n", 0, position - 1) + 1
    end = sql.find("\n", start)
    line = sql[start:] if end < 0 else sql[start:end]
    return f"  {line}\n  {' ' * (position - 1 - start)}^"


def _page_size(max_rows: int | None) -> int:
    return PAGE_ROWS if max_rows is None else max(1, min(max_rows, PAGE_ROWS))
