"""Who you are at a server: ``bqlite login``, ``logout``, ``whoami`` and ``password``.

The token a login gets is stored per server URL (``bqlite_app.cli.credentials``, mode 0600); passwords are read as
``prompts`` says, never from an argument.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bqlite_app.cli import credentials
from bqlite_app.cli.commands.access.prompts import PasswordStdin, ask, read_password, stdin_line
from bqlite_app.cli.context import CliContext, cli_context
from bqlite_app.cli.errors import ApiError
from bqlite_app.cli.output import note, out
from bqlite_app.humanize import local_time


def login(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option(
        "--username", "-u", help="Who to log in as (default: ask, offering the last one).",
        show_default=False)] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Log in to the server at --url and store a token for it.

    The password is asked for on the terminal with no echo (or read with --password-stdin); it is never an
    argument. The token goes to $XDG_CONFIG_HOME/bqlite/credentials.json (mode 0600), one entry per server URL.
    """
    context = cli_context(ctx)
    url = credentials.url_key(context.url)
    anonymous = context.new_client(None)
    if _auth_is_off(anonymous):
        context.respond({"url": url, "auth": "off"}, lambda _: note(
            f"Auth is off at {url}: every request acts as the built-in admin `local`. Nothing to log in to."))
        return
    if username is None:
        if password_stdin or not sys.stdin.isatty():
            raise typer.BadParameter("give the user with --username when there is no terminal to ask on",
                                     param_hint="--username")
        previous = context.stored.username if context.stored else None
        username = ask(lambda: typer.prompt("Username", default=previous or None, err=True)).strip()
    secret = read_password(f"Password for {username} at {url}", from_stdin=password_stdin)
    try:
        issued = anonymous.login(username, secret)
    except ApiError as exc:
        if exc.status == 401:
            exc.hint = "Check the username and password."
        raise
    expires_at = None
    if isinstance(issued.get("expires_in"), int):
        expires_at = (datetime.now(UTC) + timedelta(seconds=issued["expires_in"])).isoformat(timespec="seconds")
    try:
        me = context.new_client(issued["access_token"]).me()
    except ApiError:
        me = {"username": username, "role": None}
    path = credentials.save(credentials.Credential(url=url, username=me.get("username") or username,
                                                   access_token=issued["access_token"], expires_at=expires_at))
    answer = {"url": url, "username": me.get("username") or username, "role": me.get("role"),
              "expires_at": expires_at, "credentials": str(path)}
    context.respond(answer, _print_logged_in)


def _print_logged_in(answer: dict[str, Any]) -> None:
    role = f" ({answer['role']})" if answer.get("role") else ""
    until = f" until {local_time(answer['expires_at'])}" if answer.get("expires_at") else ""
    out.print(f"Logged in to {escape(answer['url'])} as [bold]{escape(answer['username'])}[/]{role}{until}.")
    note(f"[dim]Token stored in {escape(answer['credentials'])} (mode 0600).[/]")


def _auth_is_off(client: Any) -> bool:
    """Whether the server answers `who am I` with no token at all (auth off: everyone is `local`)."""
    try:
        client.me()
    except ApiError:
        return False
    return True


def logout(ctx: typer.Context) -> None:
    """Forget the token stored for the server at --url.

    The server keeps no sessions: a login token stays valid until it expires, so revoke API tokens with `tokens
    revoke`.
    """
    context = cli_context(ctx)
    url = credentials.url_key(context.url)
    removed = credentials.remove(url)
    context.respond({"url": url, "logged_out": removed},
                    lambda _: out.print(f"Logged out of {escape(url)}." if removed
                                        else f"Not logged in to {escape(url)}; nothing to do."))


def whoami(ctx: typer.Context) -> None:
    """Who the server takes you for: username, role and dataset grants, and where the token comes from."""
    context = cli_context(ctx)
    me = context.client.me()
    context.respond(me, lambda answer: _print_me(answer, context))


def _print_me(me: dict[str, Any], context: CliContext) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("User", escape(me["username"]))
    grid.add_row("Role", me["role"] + ("  [dim](every dataset)[/]" if me["role"] == "admin" else ""))
    grid.add_row("Server", escape(credentials.url_key(context.url)))
    grid.add_row("Token", escape(context.token_source))
    stored = context.stored
    if not context.token and stored and not stored.expired and stored.expires_at:
        grid.add_row("Expires", local_time(stored.expires_at))
    out.print(grid)
    grants = me.get("grants") or []
    if grants:
        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("DATASET")
        table.add_column("ROLE")
        for grant in grants:
            table.add_row(escape(grant["dataset"]), grant["role"])
        out.print()
        out.print(table)
    elif me["role"] != "admin":
        note("[dim]No dataset grants.[/]")


def password(ctx: typer.Context, password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the current and the new password from the first two lines of stdin.")]
        = False) -> None:
    """Change your own password: asks for the current one, then the new one twice (at least 12 characters)."""
    context = cli_context(ctx)
    if password_stdin:
        current, new = stdin_line("current password"), stdin_line("new password")
    else:
        current = read_password("Current password", from_stdin=False)
        new = read_password("New password", from_stdin=False, confirm=True)
    answer = context.client.change_password(current, new)
    context.respond(answer, lambda _: out.print("Password changed."))
