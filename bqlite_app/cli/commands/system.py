"""``bqlite status`` and ``bqlite examples``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from bqlite_app.cli.commands.options import complete_engine
from bqlite_app.cli.context import cli_context
from bqlite_app.cli.output import out, print_sql
from bqlite_app.humanize import human_duration_ms


def status(ctx: typer.Context) -> None:
    """The server at a glance: slots in use, the queue, job counts and the engines."""
    context = cli_context(ctx)
    context.respond(context.client.status(), lambda answer: _print_status(answer, context.url))


def _print_status(answer: dict[str, Any], url: str) -> None:
    total, free = answer["total_slots"], answer["available_slots"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    slots = Table.grid(padding=(0, 1))
    slots.add_row(ProgressBar(total=total, completed=total - free, width=20), f"{total - free} of {total} in use")
    grid.add_row("Server", f"{url}  [dim]version {answer.get('version', '?')}, up "
                           f"{human_duration_ms(answer['uptime_s'] * 1000)}[/]")
    grid.add_row("Slots", slots)
    grid.add_row("Jobs", f"{answer['queued_jobs']} queued · {answer['running_jobs']} running · "
                         f"{answer['completed_jobs']} completed · {answer['failed_jobs']} failed"
                         + (f" · {answer['cancelled_jobs']} cancelled" if "cancelled_jobs" in answer else ""))
    out.print(grid)
    engines = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("ENGINE", "AVAILABLE", "RUNS", "VERSION"):
        engines.add_column(name)
    for name, engine in answer["engines"].items():
        engines.add_row(name, "[green]yes[/]" if engine["available"] else "[red]no[/]",
                        engine.get("label") or engine["mode"], engine["version"])
    out.print()
    out.print(engines)


def examples(
    ctx: typer.Context,
    engine: Annotated[str | None, typer.Option(
        "--engine", "-e", help="Only this engine's examples.", autocompletion=complete_engine,
        show_default=False)] = None,
) -> None:
    """Example queries over the sample `nyc_taxi` table; each runs as-is with `bqlite query`."""
    context = cli_context(ctx)
    context.respond(context.client.examples(engine), _print_examples)


def _print_examples(answer: dict[str, Any]) -> None:
    for number, example in enumerate(answer["examples"], start=1):
        out.print(f"[bold]{number}. {escape(example['title'])}[/] [dim]({example['engine']})[/]")
        if example.get("description"):
            out.print(f"   {escape(example['description'])}")
        print_sql(example["sql"].strip(), indent=3)
