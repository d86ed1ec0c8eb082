"""``bqlite schemas``: register .proto files, inspect and compare versions, create tables, ingest protobuf data."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.tree import Tree

from bqlite_app.cli.commands.options import ENGINES
from bqlite_app.cli.context import cli_context
from bqlite_app.cli.errors import JobFailed
from bqlite_app.cli.output import live_progress, note, out, print_sql
from bqlite_app.humanize import DASH, human_bytes, human_duration_ms, local_time

app = typer.Typer(help="Register protobuf schemas, create their tables and ingest binary data.",
                  no_args_is_help=True)

UPLOAD_CHUNK = 1024 * 1024


class IngestFormat(StrEnum):
    delimited = "delimited"
    single = "single"
    jsonl = "jsonl"


SchemaId = Annotated[str, typer.Argument(
    metavar="SCHEMA_ID", help="The schema id, as `schemas list` shows it.", show_default=False)]
ProtoPath = Annotated[Path, typer.Argument(
    metavar="FILE.proto", help="The .proto file (or a binary FileDescriptorSet).", exists=True, dir_okay=False,
    readable=True, show_default=False)]
ImportsOption = Annotated[list[Path] | None, typer.Option(
    "--import", "-i", metavar="FILE.proto", help="A .proto the main file imports; repeatable. It is named by its "
    "path relative to the main file's folder, as `protoc -I <that folder>` would see it.", exists=True,
    dir_okay=False, readable=True, show_default=False)]
MessageOption = Annotated[str | None, typer.Option(
    "--message", "-m", help="The fully qualified message; needed when the file defines more than one.",
    show_default=False)]
EnginesOption = Annotated[str | None, typer.Option(
    "--engines", metavar="ENGINES", help="Comma-separated engines (default: every engine with the table).",
    show_default=False)]


@app.command()
def register(
    ctx: typer.Context,
    proto: ProtoPath,
    table: Annotated[str, typer.Option("--table", "-t", help="The table name.", show_default=False)],
    database: Annotated[str, typer.Option("--database", "-d", help="The database (a schema in DuckDB).")]
    = "bigquery_lite",
    message: MessageOption = None,
    imports: ImportsOption = None,
    description: Annotated[str, typer.Option("--description", help="What the data is.")] = "",
    shard_key: Annotated[str | None, typer.Option(
        "--shard-key", help="A top-level scalar field that places rows on a ClickHouse cluster's shards "
        "(default: random; kept when re-registering without it).", show_default=False)] = None,
) -> None:
    """Register a message as DATABASE.TABLE. Same content keeps its version; a compatible change is a new one."""
    context = cli_context(ctx)
    fields = {"table_name": table, "database_name": database, "description": description}
    if message:
        fields["message_type"] = message
    if shard_key:
        fields["shard_key"] = shard_key
    answer = context.client.register_schema(_upload(proto, proto), [_upload(path, proto) for path in imports or []],
                                            fields)
    context.respond(answer, lambda answer: out.print(f"{escape(answer['message'])}: schema [bold]{answer['schema_id']}"
                                                     f"[/], {answer['field_count']} top-level fields"))


@app.command("list")
def list_schemas(ctx: typer.Context) -> None:
    """Every registered schema, newest first."""
    context = cli_context(ctx)
    context.respond(context.client.schemas(), _print_schemas)


def _print_schemas(answer: dict[str, Any]) -> None:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("SCHEMA ID", "TABLE", "VERSION", "FIELDS", "TABLES IN", "UPDATED", "DESCRIPTION"):
        table.add_column(name, justify="right" if name in ("VERSION", "FIELDS") else "left",
                         no_wrap=name != "DESCRIPTION")
    for schema in answer["schemas"]:
        table.add_row(schema["schema_id"], f"{schema['database_name']}.{schema['table_name']}", str(schema["version"]),
                      str(schema["field_count"]), ", ".join(t["engine"] for t in schema["tables"]) or DASH,
                      local_time(schema["updated_at"]), escape(schema.get("description") or ""))
    out.print(table)
    note(f"[dim]{answer['total']} schema(s)[/]")


@app.command()
def show(
    ctx: typer.Context,
    schema_id: SchemaId,
    ddl: Annotated[str | None, typer.Option(
        "--ddl", help="Print only this engine's CREATE TABLE, e.g. to pipe it elsewhere.", show_default=False)]
    = None,
    source: Annotated[bool, typer.Option("--source", help="Print only the latest .proto source.")] = False,
) -> None:
    """A schema: its field tree, the DDL for both engines, and its versions."""
    context = cli_context(ctx)

    def render(schema: dict[str, Any]) -> None:
        if ddl:
            if ddl not in schema["ddl"]:
                raise typer.BadParameter(f"{ddl!r}; the DDL is available for {', '.join(schema['ddl'])}",
                                         param_hint="--ddl")
            sys.stdout.write(schema["ddl"][ddl].rstrip() + "\n")
        elif source:
            sys.stdout.write(schema["proto_source"])
        else:
            _print_schema(schema)

    context.respond(context.client.schema(schema_id), render)


@app.command()
def diff(
    ctx: typer.Context,
    schema_id: SchemaId,
    proto: ProtoPath,
    message: MessageOption = None,
    imports: ImportsOption = None,
) -> None:
    """What registering FILE.proto over the schema would change, and whether it would break. Changes nothing.

    Exits with 1 when the change is breaking (so CI can refuse it), 0 otherwise.
    """
    context = cli_context(ctx)
    answer = context.client.diff_schema(schema_id, _upload(proto, proto), [_upload(p, proto) for p in imports or []],
                                        message)
    context.respond(answer, _print_diff)
    if not answer["compatible"]:
        raise JobFailed(f"{len(answer['breaking'])} breaking change(s): registering {proto.name} would be refused")


@app.command("create-table")
def create_table(
    ctx: typer.Context,
    schema_id: SchemaId,
    engines: Annotated[str, typer.Option("--engines", metavar="ENGINES", help="Comma-separated engines.")] = ",".join(
        ENGINES),
    replace: Annotated[bool, typer.Option("--replace", help="Drop and recreate tables that exist (data is lost).")]
    = False,
    if_not_exists: Annotated[bool, typer.Option(
        "--if-not-exists/--fail-if-exists", help="Keep an existing table, or report it as an error.")] = True,
) -> None:
    """Create the schema's table in each engine. Exits with 1 if any engine failed."""
    context = cli_context(ctx)
    answer = context.client.create_tables(schema_id, {"engines": _engine_list(engines), "replace": replace,
                                                      "if_not_exists": if_not_exists})
    context.respond(answer, _print_created)
    failed = [name for name, r in answer["results"].items() if r.get("error")]
    if failed:
        raise JobFailed(f"could not create the table in {', '.join(failed)}")


@app.command()
def ingest(
    ctx: typer.Context,
    schema_id: SchemaId,
    data: Annotated[str, typer.Argument(metavar="DATA", help="The data file, or - for stdin.", show_default=False)],
    fmt: Annotated[IngestFormat | None, typer.Option(
        "--format", help="delimited (varint length-prefixed), single (one message) or jsonl (protobuf JSON per "
        "line); default: jsonl for .jsonl/.ndjson files, else delimited.", show_default=False)] = None,
    engines: EnginesOption = None,
) -> None:
    """Stream binary protobuf into the schema's tables, all or nothing per engine, with upload progress and rows/s."""
    context = cli_context(ctx)
    path = None if data == "-" else Path(data)
    if path is not None and not path.is_file():
        raise typer.BadParameter(f"{data!r} is not a file", param_hint="DATA")
    if fmt is None:
        fmt = IngestFormat.jsonl if path and path.suffix.lower() in (".jsonl", ".ndjson") else IngestFormat.delimited
    targets = ",".join(_engine_list(engines)) if engines else None
    size = path.stat().st_size if path else None
    started = time.monotonic()
    with (path.open("rb") if path else sys.stdin.buffer) as source, live_progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=30), DownloadColumn(),
            TextColumn("{task.fields[speed]}"), TimeElapsedColumn()) as progress:
        task = progress.add_task(f"Uploading {data}", total=size, speed="")
        answer = context.client.ingest(schema_id, _chunks(source, progress, task), size=size, fmt=fmt.value,
                                       engines=targets)
    elapsed = time.monotonic() - started
    context.respond(answer, lambda answer: _print_ingested(answer, elapsed))


@app.command()
def delete(
    ctx: typer.Context,
    schema_id: SchemaId,
    drop_tables: Annotated[bool, typer.Option("--drop-tables", help="Also drop its tables and their data.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a registration, and its tables with --drop-tables. Asks first on a terminal unless --yes."""
    context = cli_context(ctx)
    if not yes and sys.stdin.isatty():
        what = f"schema {schema_id}" + (" and drop its tables with all their data" if drop_tables else "")
        typer.confirm(f"Delete {what}?", abort=True, err=True)
    context.respond(context.client.delete_schema(schema_id, drop_tables=drop_tables),
                    lambda answer: out.print(escape(answer["message"])))


def _upload(path: Path, main: Path) -> tuple[str, bytes]:
    """A file named as the compiler will look it up: relative to the main file's folder when inside it."""
    try:
        name = path.resolve().relative_to(main.resolve().parent).as_posix()
    except ValueError:
        name = path.name
    return name, path.read_bytes()


def _engine_list(engines: str) -> list[str]:
    names = [name.strip() for name in engines.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter("name at least one engine", param_hint="--engines")
    return names


def _chunks(source: BinaryIO, progress: Progress, task: Any) -> Iterator[bytes]:
    started = time.monotonic()
    sent = 0
    while chunk := source.read(UPLOAD_CHUNK):
        sent += len(chunk)
        progress.update(task, advance=len(chunk),
                        speed=f"{human_bytes(int(sent / max(time.monotonic() - started, 1e-9)))}/s")
        yield chunk
    # The server decodes and inserts once the body is in: a pulsing bar and a running clock from here on.
    progress.update(task, description="Decoding and inserting", total=None, speed="")


def _print_created(answer: dict[str, Any]) -> None:
    for name, result in answer["results"].items():
        error = result.get("error")
        state = "[red]failed[/]" if error else ("[green]created[/]" if result["created"] else "exists")
        out.print(f"{name:<11} {result['table']}  {state}" + (f": {escape(error)}" if error else ""))


def _print_ingested(answer: dict[str, Any], elapsed: float) -> None:
    rows = answer["rows_ingested"]
    out.print(f"Ingested {rows:,} rows ({human_bytes(answer['bytes'])}) into {', '.join(answer['engines']) or DASH} "
              f"in {human_duration_ms(elapsed * 1000)}: {rows / max(elapsed, 1e-9):,.0f} rows/s "
              f"[dim](server {human_duration_ms(answer['duration_ms'])})[/]")


def _print_schema(schema: dict[str, Any]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in (
        ("Schema", schema["schema_id"]),
        ("Table", f"{schema['database_name']}.{schema['table_name']}"),
        ("Message", schema.get("message_type") or DASH),
        ("Version", str(schema["version"])),
        ("Fields", f"{schema['field_count']} top-level"),
        ("Shard key", escape(schema.get("shard_key") or "none (random shard)")),
        ("Tables in", ", ".join(t["engine"] for t in schema["tables"]) or "none yet (schemas create-table)"),
        ("Updated", local_time(schema["updated_at"])),
        ("Description", escape(schema.get("description") or DASH)),
    ):
        grid.add_row(name, value)
    out.print(grid)
    tree = Tree("[bold]Fields[/]")
    _add_fields(tree, schema["fields"])
    out.print(tree)
    for engine, ddl in schema["ddl"].items():
        out.print(f"\n[bold]{engine} DDL[/]")
        print_sql(ddl)
    versions = Table(title="Versions", title_justify="left", title_style="bold", box=None, header_style="bold")
    for name in ("VERSION", "CREATED", "FINGERPRINT", "CHANGES"):
        versions.add_column(name)
    for version in schema["versions"]:
        versions.add_row(str(version["version"]), local_time(version["created_at"]), version["fingerprint"][:12],
                         escape("; ".join(version["changes"])))
    out.print()
    out.print(versions)


def _add_fields(parent: Tree, fields: list[dict[str, Any]]) -> None:
    for field in fields:
        mode = "" if field["mode"] == "NULLABLE" else f" [yellow]{field['mode']}[/]"
        node = parent.add(f"{field['name']} [dim]= {field['number']}[/]  [cyan]{escape(field['proto_type'])}[/]{mode}")
        _add_fields(node, field.get("fields") or [])


def _print_diff(answer: dict[str, Any]) -> None:
    current = answer["current_version"]
    if answer["unchanged"]:
        out.print(f"No changes: identical to version {current} ({answer['message_type']}).")
        return
    breaking = set(answer["breaking"])
    out.print(f"Against version {current} of {answer['message_type']}:")
    for change in answer["changes"] or ["(no field changes; comments, options or file layout differ)"]:
        marker = "[red]✗ breaking[/]" if change in breaking else "[green]✓[/]"
        out.print(f"  {marker} {escape(change)}")
    if answer["columns_added"]:
        out.print(f"New columns: {', '.join(answer['columns_added'])}")
    if answer["columns_changed"] and answer["compatible"]:
        out.print(f"Columns whose shape changes (recreate tables to apply): {', '.join(answer['columns_changed'])}")
    if answer["compatible"]:
        out.print(f"[green]Compatible:[/] registering it would create version {answer['next_version']}.")
    else:
        out.print(f"[red]Breaking:[/] registering it would be refused ({len(breaking)} breaking change(s)).")
