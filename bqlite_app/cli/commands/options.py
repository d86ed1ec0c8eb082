"""Options more than one command takes, declared once so their names and help read the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bqlite_app.cli.render import ResultFormat

ENGINES = ("duckdb", "clickhouse")


def complete_engine(incomplete: str) -> list[str]:
    return [name for name in ENGINES if name.startswith(incomplete)]


FormatOption = Annotated[ResultFormat | None, typer.Option(
    "--format", help="table on a terminal, csv when piped; a file's suffix picks it for -o.", show_default=False,
    case_sensitive=False)]
OutputOption = Annotated[Path | None, typer.Option(
    "--output", "-o", metavar="FILE",
    help="Write the whole result to this file (written to FILE.part, renamed when complete).",
    dir_okay=False, writable=True, show_default=False)]
MaxRowsOption = Annotated[int | None, typer.Option(
    "--max-rows", min=0, metavar="N", help="Show at most this many rows (default: 100 for a table, all otherwise).",
    show_default=False)]
