"""Reading passwords: from a terminal with echo off (getpass), or from stdin with ``--password-stdin``; never from an
argument, so they stay out of shell history and ``ps``. Also the arguments that name a user or ask for stdin, as
every access command spells them."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from bqlite_app.cli.errors import Interrupted

PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of stdin instead of asking (for scripts).")]
Username = Annotated[str, typer.Argument(metavar="USERNAME", help="The user's name.", show_default=False)]


def read_password(prompt: str, *, from_stdin: bool, confirm: bool = False) -> str:
    """From stdin's first line with --password-stdin; otherwise asked on the terminal with echo off."""
    if from_stdin:
        return stdin_line("password")
    if not sys.stdin.isatty():
        raise typer.BadParameter("there is no terminal to ask for the password on; pipe it in instead",
                                 param_hint="--password-stdin")
    secret = ask(lambda: getpass.getpass(f"{prompt}: "))
    if not secret:
        raise typer.BadParameter("the password is empty", param_hint="password")
    if confirm and ask(lambda: getpass.getpass(f"{prompt} (again): ")) != secret:
        raise typer.BadParameter("the two passwords differ", param_hint="password")
    return secret


def stdin_line(what: str) -> str:
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise typer.BadParameter(f"stdin gave no {what}", param_hint="--password-stdin")
    return line


def ask(prompt: Callable[[], str]) -> str:
    """The answer to ``prompt``; Ctrl-C or end of input at a prompt stops the command, having changed nothing."""
    try:
        return prompt()
    except (KeyboardInterrupt, EOFError, typer.Abort):
        raise Interrupted("stopped at the prompt; nothing was changed") from None
