"""``bqlite saved``: list, show, run, save and delete saved queries (docs/api.md, "Saved queries").

A saved query is named by its name: yours first, else one shared with you; ``OWNER/NAME`` picks another user's, and
an id (``sq_...``) names one exactly.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bqlite_app.cli.commands.options import FormatOption, MaxRowsOption, OutputOption, complete_engine
from bqlite_app.cli.commands.query import parse_params
from bqlite_app.cli.context import cli_context
from bqlite_app.cli.errors import CliError, ExitCode
from bqlite_app.cli.output import note, one_line, out, print_sql
from bqlite_app.cli.render import default_format
from bqlite_app.cli.results import check_output_options, emit_result, first_page_rows
from bqlite_app.cli.waiting import submit_and_wait
from bqlite_app.humanize import local_time

if TYPE_CHECKING:  # httpx loads with the client: `bqlite --help` must not pay for it
    from bqlite_app.cli.client import ApiClient

app = typer.Typer(help="Saved queries: list, show, run, save and delete them.", no_args_is_help=True)

_ID = re.compile(r"sq_[0-9a-f]{16}")

NameArg = Annotated[str, typer.Argument(
    metavar="NAME", help="The saved query's name (quote it if it has spaces), OWNER/NAME for another user's, or its "
                         "id.", show_default=False)]


class NotSaved(CliError):
    """No saved query answers to the name, or more than one does."""

    exit_code = ExitCode.API_ERROR


@app.command("list")
def list_saved(
    ctx: typer.Context,
    search: Annotated[str | None, typer.Option(
        "--search", "-s", help="Only queries whose name, description or SQL contains this text.",
        show_default=False)] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own.")] = False,
    shared: Annotated[bool, typer.Option("--shared", help="Only other users' queries shared with you.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="How many.")] = 100,
) -> None:
    """Your saved queries and those shared with you, by name."""
    if mine and shared:
        raise typer.BadParameter("--mine and --shared exclude each other", param_hint="--mine")
    context = cli_context(ctx)
    scope = "mine" if mine else "shared" if shared else None
    context.respond(context.client.saved_queries(q=search, scope=scope, limit=limit), _print_list)


def _print_list(answer: dict[str, Any]) -> None:
    items = answer["saved_queries"]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in ("NAME", "OWNER", "ENGINE", "SHARING", "UPDATED"):
        table.add_column(header, no_wrap=True)
    table.add_column("DESCRIPTION", no_wrap=True)
    for item in items:
        table.add_row(escape(item["name"]), escape(item["owner"]), item["engine"], _sharing(item),
                      local_time(item["updated_at"]), escape(one_line(item["description"] or "", 50)))
    out.print(table)
    note(f"[dim]{len(items)} of {answer['total']:,} saved queries[/]")


def _sharing(item: dict[str, Any]) -> str:
    if item["sharing"] == "users" and item.get("shared_with"):
        return "users: " + ", ".join(item["shared_with"])
    return item["sharing"]


@app.command()
def show(ctx: typer.Context, name: NameArg) -> None:
    """A saved query's details and SQL."""
    context = cli_context(ctx)
    client = context.client
    context.respond(client.saved_query(resolve(client, name)["id"]), _print_one)


def _print_one(saved: dict[str, Any]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in (("Name", saved["name"]), ("Id", saved["id"]), ("Owner", saved["owner"]),
                         ("Engine", saved["engine"]), ("Sharing", _sharing(saved)),
                         ("Created", local_time(saved["created_at"])), ("Updated", local_time(saved["updated_at"])),
                         ("Description", saved["description"] or None),
                         ("Access", None if saved["can_edit"] else "read-only")):
        if value is not None:
            grid.add_row(label, escape(value))
    out.print(grid)
    out.print()
    print_sql(saved["sql"])


@app.command()
def run(
    ctx: typer.Context,
    name: NameArg,
    engine: Annotated[str | None, typer.Option(
        "--engine", "-e", help="Run on this engine instead of the saved one.", autocompletion=complete_engine,
        show_default=False)] = None,
    priority: Annotated[int, typer.Option(
        "--priority", "-p", min=1, max=5, help="1 is the most urgent (interactive), 5 is batch.")] = 1,
    timeout: Annotated[int | None, typer.Option(
        "--timeout", min=1, max=86_400, help="Time limit in seconds (default: the server's).",
        show_default=False)] = None,
    params: Annotated[list[str] | None, typer.Option(
        "--param", metavar="NAME:TYPE:VALUE", help="A value for @NAME in the saved SQL, as for `bqlite query`; "
                                                  "repeatable.", show_default=False)] = None,
    max_rows: MaxRowsOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Run a saved query as a job and print its result, as `bqlite query` does."""
    context = cli_context(ctx)
    fmt = fmt or default_format(output)
    check_output_options(fmt, output, max_rows)
    client = context.client
    saved = client.saved_query(resolve(client, name)["id"])
    body: dict[str, Any] = {"sql": saved["sql"], "engine": engine or saved["engine"], "priority": priority,
                            "labels": {"saved_query": saved["id"]}}
    if timeout is not None:
        body["max_execution_time"] = timeout
    if params:
        body["parameters"] = parse_params(params)
    job, first = submit_and_wait(client, body, first_page_rows(fmt, max_rows, context.raw_json))
    emit_result(client, job, fmt, destination=output, max_rows=max_rows, raw_json=context.raw_json, first=first)


@app.command()
def save(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The name to save it under.", show_default=False)],
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", metavar="FILE", help="Read the SQL from this file (default: stdin).", exists=True,
        dir_okay=False, readable=True, show_default=False)] = None,
    description: Annotated[str | None, typer.Option(
        "--description", "-d", help="What the query is for.", show_default=False)] = None,
    engine: Annotated[str | None, typer.Option(
        "--engine", "-e", help="duckdb or clickhouse (new queries: duckdb).", autocompletion=complete_engine,
        show_default=False)] = None,
    share_with: Annotated[list[str] | None, typer.Option(
        "--share-with", metavar="USER", help="Share it read-only with this user; repeatable.",
        show_default=False)] = None,
    everyone: Annotated[bool, typer.Option("--everyone", help="Share it read-only with every user.")] = False,
    private: Annotated[bool, typer.Option("--private", help="Stop sharing it.")] = False,
) -> None:
    """Save SQL under NAME; if you already have a query of that name, its SQL (and any option given) is updated."""
    if sum((bool(share_with), everyone, private)) > 1:
        raise typer.BadParameter("give one of --share-with, --everyone and --private", param_hint="--everyone")
    context = cli_context(ctx)
    client = context.client
    body: dict[str, Any] = {"sql": _read_sql(file)}
    if description is not None:
        body["description"] = description
    if engine is not None:
        body["engine"] = engine
    if share_with:
        body["shared_with"] = share_with
    elif everyone or private:
        body["sharing"] = "everyone" if everyone else "private"
    existing = client.saved_queries(name=name, scope="mine", limit=1)["saved_queries"]
    if existing:
        answer, verb = client.update_saved_query(existing[0]["id"], body), "Updated"
    else:
        answer, verb = client.save_query({"name": name, **body}), "Saved"
    context.respond(answer, lambda saved: out.print(f"{verb} {escape(saved['name'])} ({saved['id']}, "
                                                    f"{_sharing(saved)})"))


@app.command()
def delete(
    ctx: typer.Context,
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete one of your saved queries. Asks first on a terminal unless --yes."""
    context = cli_context(ctx)
    client = context.client
    saved = resolve(client, name)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete saved query {saved['name']!r} of {saved['owner']}?", abort=True, err=True)
    client.delete_saved_query(saved["id"])
    context.respond({"id": saved["id"], "deleted": True},
                    lambda _: out.print(f"Deleted {escape(saved['name'])} ({saved['id']})"))


def resolve(client: ApiClient, name: str) -> dict[str, Any]:
    """The saved query NAME names: an id, OWNER/NAME, or a name (the caller's own first)."""
    if _ID.fullmatch(name):
        return client.saved_query(name)
    owner, _, bare = name.rpartition("/") if "/" in name else ("", "", name)
    found = client.saved_queries(name=bare, owner=owner or None, limit=100)["saved_queries"]
    if not found:
        raise NotSaved(f"No saved query named {name!r} that you can see",
                       hint="List them with `bqlite saved list`.")
    own = [item for item in found if item["can_edit"]]
    if own:
        return own[0]
    if len(found) > 1:
        choices = ", ".join(f"{item['owner']}/{item['name']}" for item in found[:5])
        raise NotSaved(f"{len(found)} saved queries shared with you are named {bare!r}",
                       hint=f"Name one as OWNER/NAME: {choices}")
    return found[0]


def _read_sql(file: Path | None) -> str:
    if file is not None:
        text = file.read_text()
    elif not sys.stdin.isatty():
        text = sys.stdin.read()
    else:
        raise typer.BadParameter("none given: use --file FILE, or pipe it on stdin", param_hint="SQL")
    if not text.strip():
        raise typer.BadParameter("the SQL is empty", param_hint="SQL")
    return text
