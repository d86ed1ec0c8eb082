"""``bqlite query``: run SQL as a job, wait for it, print or save the result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bqlite_app.cli.commands.options import FormatOption, MaxRowsOption, OutputOption, complete_engine
from bqlite_app.cli.context import cli_context
from bqlite_app.cli.errors import JobFailed
from bqlite_app.cli.output import out
from bqlite_app.cli.render import default_format
from bqlite_app.cli.results import check_output_options, emit_result, error_pointer, first_page_rows
from bqlite_app.cli.waiting import submit_and_wait
from bqlite_app.humanize import human_bytes


def query(
    ctx: typer.Context,
    sql: Annotated[str | None, typer.Argument(
        metavar="SQL", help="The SQL. Omit it (or give -) to read it from stdin.", show_default=False)] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", metavar="FILE", help="Read the SQL from this file.", exists=True, dir_okay=False, readable=True,
        show_default=False)] = None,
    engine: Annotated[str, typer.Option(
        "--engine", "-e", help="duckdb or clickhouse.", autocompletion=complete_engine)] = "duckdb",
    priority: Annotated[int, typer.Option(
        "--priority", "-p", min=1, max=5, help="1 is the most urgent (interactive), 5 is batch.")] = 1,
    slots: Annotated[int, typer.Option("--slots", min=1, max=10, help="Slots the job reserves.")] = 1,
    timeout: Annotated[int | None, typer.Option(
        "--timeout", min=1, max=86_400, help="Time limit in seconds (default: the server's).",
        show_default=False)] = None,
    labels: Annotated[list[str] | None, typer.Option(
        "--label", "-l", metavar="KEY=VALUE", help="A key=value label for the job; repeatable.",
        show_default=False)] = None,
    params: Annotated[list[str] | None, typer.Option(
        "--param", metavar="NAME:TYPE:VALUE",
        help="A value for @NAME in the SQL, bound by the engine (TYPE: INT64, FLOAT64, STRING, DATE, TIMESTAMP, "
             "BOOL, ...; empty means STRING; VALUE NULL is NULL); repeatable.", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Validate and estimate the bytes processed; run nothing.")] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Print the job id and return at once.")] = False,
    max_rows: MaxRowsOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Run SQL as a job and print its result.

    While the job runs a status line shows its state and elapsed time. Ctrl+C offers to cancel the job on the
    server (without a terminal to ask on, it cancels). A failed query exits with 1 and the engine's message.
    """
    context = cli_context(ctx)
    text = _read_sql(sql, file)
    fmt = fmt or default_format(output)
    check_output_options(fmt, output, max_rows)
    body: dict[str, Any] = {"sql": text, "engine": engine, "priority": priority, "estimated_slots": slots,
                            "dry_run": dry_run, "labels": _parse_labels(labels or [])}
    if params:
        body["parameters"] = parse_params(params)
    if timeout is not None:
        body["max_execution_time"] = timeout
    client = context.client
    if not (dry_run or no_wait):
        job, first = submit_and_wait(client, body, first_page_rows(fmt, max_rows, context.raw_json))
        emit_result(client, job, fmt, destination=output, max_rows=max_rows, raw_json=context.raw_json,
                    first=first)
        return
    answer = client.submit_query(body)
    if dry_run:
        context.respond(answer, _print_estimate)
        if not answer.get("valid"):
            raise JobFailed(f"the query is not valid: {answer.get('error') or 'no error message'}",
                            hint=error_pointer(text, answer.get("error_position")))
        return
    context.respond(answer, lambda answer: out.print(answer["job_id"]))


def _read_sql(sql: str | None, file: Path | None) -> str:
    if sql is not None and file is not None:
        raise typer.BadParameter("give the SQL as an argument or with --file, not both", param_hint="SQL")
    if file is not None:
        text = file.read_text()
    elif sql == "-" or (sql is None and not sys.stdin.isatty()):
        text = sys.stdin.read()
    elif sql is None:
        raise typer.BadParameter("none given: pass it as an argument, with --file FILE, or on stdin",
                                 param_hint="SQL")
    else:
        text = sql
    if not text.strip():
        raise typer.BadParameter("the SQL is empty", param_hint="SQL")
    return text


def _parse_labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--label")
        labels[key] = value
    return labels


def parse_params(specs: list[str]) -> list[dict[str, Any]]:
    """``name:TYPE:value`` (as ``bq query --parameter``) -> ``{"name", "type", "value"}``. The value is everything
    after the second colon, so times keep theirs; ARRAY and STRUCT values are JSON; ``NULL`` is NULL."""
    parameters = []
    for spec in specs:
        name, sep, rest = spec.partition(":")
        typ, sep2, value = rest.partition(":")
        if not (sep and sep2 and name):
            raise typer.BadParameter(f"{spec!r} is not NAME:TYPE:VALUE", param_hint="--param")
        typ = typ.strip() or "STRING"
        parsed: Any = value
        if value == "NULL":
            parsed = None
        elif typ.upper().startswith(("ARRAY", "STRUCT", "RECORD")):
            try:
                parsed = json.loads(value)
            except ValueError:
                raise typer.BadParameter(f"the value of {name} must be JSON for {typ}", param_hint="--param") from None
        parameters.append({"name": name.lstrip("@"), "type": typ, "value": parsed})
    return parameters


def _print_estimate(answer: dict[str, Any]) -> None:
    if not answer.get("valid"):
        return  # the error is the command's failure, reported on stderr
    size = answer["estimated_bytes_processed"]
    tables = ", ".join(answer.get("referenced_tables") or []) or "none"
    out.print(f"Valid. This query will process {human_bytes(size)} ({size:,} bytes) when run. Tables: {tables}.",
              markup=False)
