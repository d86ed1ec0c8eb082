"""Identity, access and audit: ``bqlite login|logout|whoami|password``, ``users``, ``grants``, ``tokens``, ``audit``.

Passwords are only ever read from a terminal with echo off (getpass) or from stdin (``--password-stdin``), never
from an argument, so they stay out of shell history and ``ps``. Tokens are never printed, except an API token's
secret once, by ``tokens create``.
"""

from __future__ import annotations

import getpass
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bqlite_app.cli import credentials
from bqlite_app.cli.context import CliContext, cli_context
from bqlite_app.cli.errors import ApiError, Interrupted, JobFailed
from bqlite_app.cli.output import note, one_line, out
from bqlite_app.humanize import DASH, local_time


class UserRole(StrEnum):
    admin = "admin"
    member = "member"


class DatasetRole(StrEnum):
    reader = "reader"
    writer = "writer"
    owner = "owner"


class Outcome(StrEnum):
    ok = "ok"
    denied = "denied"
    failed = "failed"


OUTCOME_STYLES = {"ok": "green", "denied": "red", "failed": "yellow"}

PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of stdin instead of asking (for scripts).")]
Username = Annotated[str, typer.Argument(metavar="USERNAME", help="The user's name.", show_default=False)]
Dataset = Annotated[str, typer.Argument(
    metavar="DATASET", help="The dataset (a DuckDB schema, a ClickHouse database); `default` holds the samples.",
    show_default=False)]


# -- login, logout, whoami, password -------------------------------------------------------------------------------

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
        username = _ask(lambda: typer.prompt("Username", default=previous or None, err=True)).strip()
    secret = _read_password(f"Password for {username} at {url}", from_stdin=password_stdin)
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
        current, new = _stdin_line("current password"), _stdin_line("new password")
    else:
        current = _read_password("Current password", from_stdin=False)
        new = _read_password("New password", from_stdin=False, confirm=True)
    answer = context.client.change_password(current, new)
    context.respond(answer, lambda _: out.print("Password changed."))


# -- users ---------------------------------------------------------------------------------------------------------

users_app = typer.Typer(help="Manage users and their roles (admins only).", no_args_is_help=True)


@users_app.command("list")
def list_users(ctx: typer.Context) -> None:
    """Every user: role, whether active, when created and last logged in."""
    context = cli_context(ctx)
    context.respond(context.client.users(), _print_users)


def _print_users(answer: dict[str, Any]) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("USERNAME", "ROLE", "ACTIVE", "CREATED", "LAST LOGIN"):
        table.add_column(name, no_wrap=True)
    for user in answer["users"]:
        table.add_row(escape(user["username"]), user["role"], "yes" if user["active"] else "[red]no[/]",
                      local_time(user.get("created_at")), local_time(user.get("last_login_at")))
    out.print(table)
    note(f"[dim]{answer.get('total', len(answer['users']))} user(s)[/]")


@users_app.command("create")
def create_user(
    ctx: typer.Context,
    username: Username,
    role: Annotated[UserRole, typer.Option("--role", "-r", help="admin or member.", case_sensitive=False)]
    = UserRole.member,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user. Asks for the password twice with no echo (at least 12 characters).

    A new member gets the server's default grants (BQLITE_DEFAULT_GRANTS).
    """
    context = cli_context(ctx)
    secret = _read_password(f"Password for {username}", from_stdin=password_stdin, confirm=True)
    answer = context.client.create_user(username, secret, role.value)
    context.respond(answer, lambda user: out.print(
        f"Created {_user_line(user, username)}."))


@users_app.command("set-role")
def set_role(
    ctx: typer.Context,
    username: Username,
    role: Annotated[UserRole, typer.Argument(metavar="ROLE", help="admin or member.", case_sensitive=False,
                                             show_default=False)],
) -> None:
    """Make a user an admin or a member. It applies at once, to tokens already issued too."""
    _update_user(ctx, username, {"role": role.value})


@users_app.command()
def deactivate(ctx: typer.Context, username: Username) -> None:
    """Stop a user from logging in; their tokens stop working at once. `activate` undoes it."""
    _update_user(ctx, username, {"active": False})


@users_app.command()
def activate(ctx: typer.Context, username: Username) -> None:
    """Let a deactivated user log in again (their old tokens stay dead)."""
    _update_user(ctx, username, {"active": True})


@users_app.command("delete")
def delete_user(
    ctx: typer.Context,
    username: Username,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user and their tokens and grants. Asks first on a terminal unless --yes."""
    context = cli_context(ctx)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete user {username}?", abort=True, err=True)
    context.respond(context.client.delete_user(username), lambda _: out.print(f"Deleted user {escape(username)}."))


def _update_user(ctx: typer.Context, username: str, changes: dict[str, Any]) -> None:
    context = cli_context(ctx)
    answer = context.client.update_user(username, changes)
    context.respond(answer, lambda user: out.print(f"Updated {_user_line(user, username)}."))


def _user_line(user: dict[str, Any], username: str) -> str:
    if "role" not in user:
        return f"user {escape(username)}"
    state = "active" if user.get("active", True) else "[red]deactivated[/]"
    return f"user [bold]{escape(user.get('username', username))}[/]: {user['role']}, {state}"


# -- grants --------------------------------------------------------------------------------------------------------

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


# -- API tokens ----------------------------------------------------------------------------------------------------

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


# -- audit ---------------------------------------------------------------------------------------------------------

RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str | None, option: str) -> str | None:
    """An ISO date or time (local time unless it has an offset), or a span before now such as `30m`, `12h`, `7d`;
    answered as ISO-8601 in UTC."""
    if value is None:
        return None
    text = value.strip()
    match = RELATIVE.match(text)
    if match:
        moment = datetime.now(UTC) - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise typer.BadParameter(f"{value!r}: give an ISO date or time (2026-01-26, 2026-01-26T10:30) or a span "
                                     "before now (30m, 12h, 7d)", param_hint=option) from None
        if moment.tzinfo is None:
            moment = moment.astimezone()  # a naive time is the viewer's local time
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def audit(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option("--actor", help="Only events by this user.", show_default=False)]
    = None,
    action: Annotated[str | None, typer.Option(
        "--action", help="Only this action, e.g. auth.login, job.submit, grant.set.", show_default=False)] = None,
    outcome: Annotated[Outcome | None, typer.Option(
        "--outcome", help="ok, denied or failed.", case_sensitive=False, show_default=False)] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", help="From this time: ISO (local unless it has an offset) or 30m, 12h, 7d ago.",
        show_default=False)] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="WHEN", help="Up to this time, as for --since.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="How many events.")] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many (newest) events first.")] = 0,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Check the hash chain of the whole log instead; exit 1 if it was tampered with.")] = False,
) -> None:
    """The audit log (admins only), newest first: logins, token, user and grant changes, jobs, refusals, schema
    changes, ingests and exports."""
    context = cli_context(ctx)
    if verify:
        answer = context.client.audit_verify()
        context.respond(answer, _print_verified)
        if not answer["ok"]:
            raise JobFailed(f"the audit chain is broken at event {answer.get('first_bad_id')}: an event was edited "
                            "or removed")
        return
    answer = context.client.audit(actor=actor, action=action, outcome=outcome.value if outcome else None,
                                  since=parse_when(since, "--since"), until=parse_when(until, "--until"),
                                  limit=limit, offset=offset)
    context.respond(answer, _print_audit)


def _print_verified(answer: dict[str, Any]) -> None:
    if answer["ok"]:
        out.print(f"[green]Audit chain intact:[/] {answer['events']:,} event(s) verified.")
    else:
        out.print(f"[red]Audit chain broken[/] at event {answer.get('first_bad_id')} "
                  f"({answer['events']:,} event(s) checked).")


def _print_audit(answer: dict[str, Any]) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("ID", "TIME", "ACTOR", "CLIENT", "ACTION", "TARGET", "OUTCOME"):
        table.add_column(name, justify="right" if name == "ID" else "left", no_wrap=True)
    table.add_column("DETAIL", overflow="fold")
    for event in answer["events"]:
        outcome = event.get("outcome") or ""
        detail = event.get("detail") or {}
        table.add_row(str(event["id"]), local_time(event.get("ts")), escape(str(event.get("actor") or DASH)),
                      escape(str(event.get("client_ip") or DASH)), escape(str(event.get("action") or "")),
                      escape(one_line(str(event.get("target") or DASH), 40)),
                      f"[{OUTCOME_STYLES.get(outcome, 'white')}]{outcome}[/]",
                      escape(json.dumps(detail, ensure_ascii=False, separators=(",", ":")) if detail else ""))
    out.print(table)
    note(f"[dim]{len(answer['events'])} of {answer.get('total', len(answer['events'])):,} event(s), newest first[/]")


# -- passwords -----------------------------------------------------------------------------------------------------

def _read_password(prompt: str, *, from_stdin: bool, confirm: bool = False) -> str:
    """From stdin's first line with --password-stdin; otherwise asked on the terminal with echo off."""
    if from_stdin:
        return _stdin_line("password")
    if not sys.stdin.isatty():
        raise typer.BadParameter("there is no terminal to ask for the password on; pipe it in instead",
                                 param_hint="--password-stdin")
    secret = _ask(lambda: getpass.getpass(f"{prompt}: "))
    if not secret:
        raise typer.BadParameter("the password is empty", param_hint="password")
    if confirm and _ask(lambda: getpass.getpass(f"{prompt} (again): ")) != secret:
        raise typer.BadParameter("the two passwords differ", param_hint="password")
    return secret


def _stdin_line(what: str) -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise typer.BadParameter(f"stdin gave no {what}", param_hint="--password-stdin")
    return line


def _ask(prompt: Any) -> str:
    try:
        return prompt()
    except (KeyboardInterrupt, EOFError, typer.Abort):
        raise Interrupted("stopped at the prompt; nothing was changed") from None
