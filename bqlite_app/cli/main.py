"""The ``bqlite`` app: global options, the command tree, and one place that turns expected errors into exit codes."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from bqlite_app import __version__
from bqlite_app.cli.commands import access, jobs, query, saved, schemas, system
from bqlite_app.cli.context import CliContext
from bqlite_app.cli.errors import ApiError, CliError
from bqlite_app.cli.output import error_line, fit_output_to_destination

DEFAULT_URL = "http://127.0.0.1:8000"


class _BqliteGroup(TyperGroup):
    """Expected failures (API errors, an unreachable server, failed jobs) print one line and exit with their
    code; click handles usage errors itself (exit 2). Anything else is a bug and keeps its traceback."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _hoist_global_options(args))

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            if isinstance(exc, ApiError) and exc.status == 401 and exc.hint is None and ctx.obj is not None:
                exc.hint = ctx.obj.login_hint()
            error_line(exc.message, exc.hint, label=exc.label)
            raise typer.Exit(exc.exit_code) from None


def _hoist_global_options(args: list[str]) -> list[str]:
    """Let --json, --url and --token come anywhere before ``--`` (`bqlite jobs list --json`), as in gh or kubectl: click
    only reads a group's options before the command name."""
    hoisted: list[str] = []
    rest: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        if arg == "--":
            rest.extend(args[position:])
            break
        if arg == "--json" or arg.startswith(("--url=", "--token=")):
            hoisted.append(arg)
        elif arg in ("--url", "--token") and position + 1 < len(args):
            hoisted += args[position:position + 2]
            position += 1
        else:
            rest.append(arg)
        position += 1
    return hoisted + rest


app = typer.Typer(
    name="bqlite", cls=_BqliteGroup, no_args_is_help=True, pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="BigQuery-Lite from the terminal: run SQL as jobs, follow them, fetch results, manage protobuf schemas, "
         "users, grants and the audit log.",
    epilog="--url, --token and --json also work after the command. Exit codes: 0 success · 1 the query, job or "
           "operation failed · 2 usage error · 3 server unreachable · 4 API error · 130 interrupted.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bqlite {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", envvar="BQLITE_API_URL", help="The API's base URL.")] = DEFAULT_URL,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="BQLITE_TOKEN", show_envvar=True, show_default=False, metavar="TOKEN",
        help="A bearer token (e.g. an API token) to use instead of the stored `bqlite login`. Prefer the "
             "environment variable: an option lands in shell history.")] = None,
    raw_json: Annotated[bool, typer.Option("--json", help="Print the API's raw JSON answers instead.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    fit_output_to_destination()
    # By name: typer vendors its own click, whose ParameterSource is not click's.
    from_env = getattr(ctx.get_parameter_source("token"), "name", None) == "ENVIRONMENT"
    context = CliContext(url=url, raw_json=raw_json, token=token or None,
                         token_option="BQLITE_TOKEN" if from_env else "--token")
    ctx.obj = context
    ctx.call_on_close(context.close)


app.command()(query.query)
app.add_typer(jobs.app, name="jobs")
app.add_typer(schemas.app, name="schemas")
app.add_typer(saved.app, name="saved")
app.command()(system.status)
app.command()(system.examples)
app.command()(access.login)
app.command()(access.logout)
app.command()(access.whoami)
app.command()(access.password)
app.add_typer(access.users_app, name="users")
app.add_typer(access.grants_app, name="grants")
app.add_typer(access.tokens_app, name="tokens")
app.command()(access.audit)
