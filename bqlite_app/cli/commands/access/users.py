"""``bqlite users``: create users, change their role, deactivate, activate and delete them (admins only)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bqlite_app.cli.commands.access.prompts import PasswordStdin, Username, read_password
from bqlite_app.cli.context import cli_context
from bqlite_app.cli.output import note, out
from bqlite_app.humanize import local_time


class UserRole(StrEnum):
    admin = "admin"
    member = "member"


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
    secret = read_password(f"Password for {username}", from_stdin=password_stdin, confirm=True)
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
