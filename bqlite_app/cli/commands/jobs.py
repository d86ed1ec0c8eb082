"""``bqlite jobs``: the job history, one job, cancelling, and results."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bqlite_app.cli.commands.options import FormatOption, MaxRowsOption, OutputOption, complete_engine
from bqlite_app.cli.context import cli_context
from bqlite_app.cli.output import note, one_line, out, print_sql, status_text
from bqlite_app.cli.plan_tree import print_plan
from bqlite_app.cli.render import default_format
from bqlite_app.cli.results import check_output_options, emit_result
from bqlite_app.cli.waiting import wait_for_job
from bqlite_app.humanize import human_bytes, human_count, human_duration_ms, local_time

app = typer.Typer(help="List, inspect and cancel jobs, and fetch their results.", no_args_is_help=True)

STATUSES = ("queued", "running", "completed", "failed", "cancelled")


def _complete_status(incomplete: str) -> list[str]:
    return [status for status in STATUSES if status.startswith(incomplete)]


JobId = Annotated[str, typer.Argument(
    metavar="JOB_ID", help="The job id, as `jobs list` shows it.", show_default=False)]


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        "--status", "-s", help="Only jobs in this state.", autocompletion=_complete_status, show_default=False)] = None,
    engine: Annotated[str | None, typer.Option(
        "--engine", "-e", help="Only jobs on this engine.", autocompletion=complete_engine,
        show_default=False)] = None,
    search: Annotated[str | None, typer.Option(
        "--search", help="Only jobs whose SQL contains this text.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="How many jobs.")] = 20,
) -> None:
    """The job history, newest first."""
    context = cli_context(ctx)
    context.respond(context.client.jobs(status=status, engine=engine, search=search, limit=limit), _print_jobs)


def _print_jobs(answer: dict[str, Any]) -> None:
    rows = [[job["job_id"], status_text(job["status"]), job["engine"], str(job["priority"]),
             local_time(job["created_at"]), human_duration_ms(job.get("execution_time_ms")),
             human_count(job.get("rows_returned"))] for job in answer["jobs"]]
    headers = ["JOB ID", "STATUS", "ENGINE", "PRI", "CREATED", "DURATION", "ROWS"]
    # Every column but the SQL keeps its full width; the SQL gets one line of what is left.
    widths = [max([len(header), *(len(Text.from_markup(row[i])) for row in rows)]) for i, header in enumerate(headers)]
    sql_width = max(20, out.width - sum(widths) - 2 * len(headers))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in headers:
        table.add_column(header, justify="right" if header in ("PRI", "DURATION", "ROWS") else "left", no_wrap=True)
    table.add_column("SQL", no_wrap=True)
    for row, job in zip(rows, answer["jobs"]):
        table.add_row(*row, escape(one_line(job["sql"], sql_width)))
    out.print(table)
    note(f"[dim]{len(answer['jobs'])} of {answer['total']:,} jobs[/]")


@app.command()
def show(ctx: typer.Context, job_id: JobId) -> None:
    """Everything about one job: state, timings, size, labels, parameters, its SQL and any error."""
    context = cli_context(ctx)
    context.respond(context.client.job(job_id), _print_job)


@app.command()
def plan(
    ctx: typer.Context,
    job_id: JobId,
    explain: Annotated[bool, typer.Option("--explain", help="Also print the engine's EXPLAIN of the SQL.")] = False,
) -> None:
    """The execution graph of a job's run: its operators as a tree with their time, share and rows; slow ones
    stand out. Without a graph (the job read no table, or did not complete), the engine's EXPLAIN."""
    context = cli_context(ctx)
    context.respond(context.client.plan(job_id), lambda answer: print_plan(answer, explain=explain))


@app.command()
def cancel(ctx: typer.Context, job_id: JobId) -> None:
    """Cancel a queued or running job; a running query is stopped in its engine."""
    context = cli_context(ctx)
    context.respond(context.client.cancel(job_id), lambda job: out.print(f"Job {job_id} {status_text(job['status'])}"))


@app.command()
def result(
    ctx: typer.Context,
    job_id: JobId,
    fmt: FormatOption = None,
    output: OutputOption = None,
    max_rows: MaxRowsOption = None,
    order_by: Annotated[list[str] | None, typer.Option(
        "--order-by", metavar="COL[:desc][,COL2...]",
        help="Sort the whole result on the server, e.g. fare:desc,trip_id; repeatable.", show_default=False)] = None,
    filters: Annotated[list[str] | None, typer.Option(
        "--filter", metavar="COL:OP[:VALUE]",
        help="Keep only rows where this holds; repeatable, all must hold. OP: contains, =, !=, <, <=, >, >=, "
             "is_null, not_null. E.g. --filter 'fare:>=:10' --filter name:contains:ann", show_default=False)] = None,
) -> None:
    """A job's result: a table on a terminal, or the whole result streamed to stdout or a file.

    csv, ndjson, parquet, arrow and xlsx stream the server's export of every row with a progress bar and never hold the
    result in memory. --order-by and --filter sort and narrow the whole result on the server, for every format.
    A job still running is waited for (Ctrl+C offers to cancel it).
    """
    context = cli_context(ctx)
    fmt = fmt or default_format(output)
    check_output_options(fmt, output, max_rows)
    view = tuple(("order_by", spec) for spec in order_by or ()) + tuple(("filter", spec) for spec in filters or ())
    client = context.client
    job = wait_for_job(client, job_id)
    emit_result(client, job, fmt, destination=output, max_rows=max_rows, raw_json=context.raw_json, view=view)


def _print_job(job: dict[str, Any]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    progress = job.get("progress")
    facts = [
        ("Job", job["job_id"]),
        ("Kind", job.get("kind", "query")),
        ("Status", status_text(job["status"]) + (f" ({progress:.0%})" if job["status"] == "running" and progress
                                                 is not None else "")),
        ("Engine", job["engine"]),
        ("Priority", str(job["priority"])),
        ("Slots", str(job["estimated_slots"])),
        ("Queue position", str(job["queue_position"]) if job.get("queue_position") else None),
        ("Created", local_time(job["created_at"])),
        ("Started", local_time(job.get("started_at"))),
        ("Completed", local_time(job.get("completed_at"))),
        ("Duration", human_duration_ms(job.get("execution_time_ms"))),
        ("Rows", human_count(job.get("rows_returned"))),
        ("Bytes processed", human_bytes(job.get("bytes_processed"))),
        ("Time limit", f"{job['max_execution_time']} s" if job.get("max_execution_time") else None),
        ("Labels", ", ".join(f"{k}={v}" for k, v in (job.get("labels") or {}).items()) or None),
        # Values are the client's text: shown literally, never read as markup.
        ("Parameters", Text(", ".join(f"@{p['name']} {p['type']} = {json.dumps(p.get('value'))}"
                                      for p in job["parameters"])) if job.get("parameters") else None),
    ]
    for name, value in facts:
        if value is not None:
            grid.add_row(name, value)
    out.print(grid)
    out.print()
    print_sql(job["sql"])
    if job.get("error"):
        out.print()
        out.print(f"[bold red]Error:[/] {escape(job['error'])}")
