"""``bqlite tokens``: your API tokens, for scripts and CI. A token's secret is printed once, by ``create``, and
never again: only its hash is kept."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bqlite_app.cli.context import cli_context
from bqlite_app.cli.output import note, out
from bqlite_app.humanize import local_time

tokens_app = typer.Typer(help="Your API tokens, for scripts and CI (`BQLITE_TOKEN`).", no_args_is_help=True)


@tokens_app.command("list")
def list_tokens(ctx: typer.Context) -> None:
    """Your API tokens (never their secrets)."""
    context = cli_context(ctx)
    context.respond(context.client.api_tokens(), _print_tokens)


def _print_tokens(answer: dict[str, Any]) -> None:
    tokens = answer["tokens"]
    extra = [name for name in ("last_used_at",) if any(name in token for token in tokens)]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("ID", "NAME", "CREATED", "EXPIRES", *(["LAST USED"] if extra else [])):
        table.add_column(name, no_wrap=name != "NAME")
    for token in tokens:
        table.add_row(str(token["id"]), escape(token["name"]), local_time(token.get("created_at")),
                      local_time(token["expires_at"]) if token.get("expires_at") else "never",
                      *(local_time(token.get(name)) for name in extra))
    out.print(table)
    note(f"[dim]{len(tokens)} token(s)[/]")


@tokens_app.command("create")
def create_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="What the token is for, e.g. `ci`.",
                                        show_default=False)],
    expires_in_days: Annotated[int | None, typer.Option(
        "--expires-in-days", min=1, metavar="N", help="Expire after N days (default: never).",
        show_default=False)] = None,
) -> None:
    """Create an API token and print its secret, once: only its hash is kept.

    The secret alone goes to stdout (`export BQLITE_TOKEN=$(bqlite tokens create ci)`); the rest to stderr.
    """
    context = cli_context(ctx)
    answer = context.client.create_api_token(name, expires_in_days)
    context.respond(answer, _print_new_token)


def _print_new_token(answer: dict[str, Any]) -> None:
    sys.stdout.write(answer["token"] + "\n")
    sys.stdout.flush()
    expires = local_time(answer["expires_at"]) if answer.get("expires_at") else "never"
    note(f"[dim]API token {escape(answer['name'])} (id {answer['id']}, expires {expires}). Copy it now: it is not "
         "shown again. Use it as BQLITE_TOKEN or an `Authorization: Bearer` header.[/]")


@tokens_app.command("revoke")
def revoke_token(ctx: typer.Context, token_id: Annotated[str, typer.Argument(
        metavar="ID", help="The token's id, as `tokens list` shows it.", show_default=False)]) -> None:
    """Revoke an API token; it stops working at once."""
    context = cli_context(ctx)
    context.respond(context.client.revoke_api_token(token_id), lambda _: out.print(f"Revoked API token {token_id}."))
