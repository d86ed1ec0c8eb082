"""``bqlite grants``: who may read, write or own a dataset (admins and the dataset's owners)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bqlite_app.cli.commands.access.prompts import Username
from bqlite_app.cli.context import cli_context
from bqlite_app.cli.output import note, out


class DatasetRole(StrEnum):
    reader = "reader"
    writer = "writer"
    owner = "owner"


Dataset = Annotated[str, typer.Argument(
    metavar="DATASET", help="The dataset (a DuckDB schema, a ClickHouse database); `default` holds the samples.",
    show_default=False)]


grants_app = typer.Typer(help="Who may read, write or own a dataset (admins and the dataset's owners).",
                         no_args_is_help=True)


@grants_app.command("list")
def list_grants(ctx: typer.Context, dataset: Dataset) -> None:
    """The users with a role on DATASET."""
    context = cli_context(ctx)
    context.respond(context.client.grants(dataset), _print_grants)


def _print_grants(answer: dict[str, Any]) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("USERNAME")
    table.add_column("ROLE")
    for grant in answer["grants"]:
        table.add_row(escape(grant["username"]), grant["role"])
    out.print(table)
    note(f"[dim]{len(answer['grants'])} grant(s) on {escape(answer.get('dataset', ''))}; admins may do everything[/]")


@grants_app.command("set")
def set_grant(
    ctx: typer.Context,
    dataset: Dataset,
    username: Username,
    role: Annotated[DatasetRole, typer.Argument(
        metavar="ROLE", help="reader, writer or owner (each includes the ones before).", case_sensitive=False,
        show_default=False)],
) -> None:
    """Give USERNAME the ROLE on DATASET, replacing any role they had there."""
    context = cli_context(ctx)
    answer = context.client.set_grant(dataset, username, role.value)
    context.respond(answer, lambda _: out.print(
        f"{escape(username)} is now {role.value} on {escape(dataset)}."))


@grants_app.command("revoke")
def revoke_grant(ctx: typer.Context, dataset: Dataset, username: Username) -> None:
    """Take away USERNAME's role on DATASET."""
    context = cli_context(ctx)
    answer = context.client.revoke_grant(dataset, username)
    context.respond(answer, lambda _: out.print(f"{escape(username)} has no role on {escape(dataset)} any more."))
