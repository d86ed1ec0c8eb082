"""Result rows in the four text formats. Everything but ``table`` streams: a page in, lines out, nothing kept."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from rich.table import Table
from rich.text import Text

from bqlite_app.cli.output import out

Column = dict[str, str]  # {"name", "type"} as the API describes result columns
Page = list[list[Any]]

NUMERIC_TYPES = ("INT", "UINT", "FLOAT", "NUMERIC", "BIGNUMERIC", "DECIMAL")


class ResultFormat(StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"
    parquet = "parquet"
    arrow = "arrow"
    xlsx = "xlsx"

    @property
    def binary(self) -> bool:
        return self in (ResultFormat.parquet, ResultFormat.arrow, ResultFormat.xlsx)

    @property
    def exported(self) -> bool:
        """The server's whole-result export produces this format (``?format=``)."""
        return self not in (ResultFormat.table, ResultFormat.json)


# Like `bq query`: a terminal table shows the first 100 rows unless asked for more; other formats carry every row.
DEFAULT_TABLE_ROWS = 100
# File suffixes that name a format, for `-o FILE` without --format.
SUFFIX_FORMATS = {".csv": ResultFormat.csv, ".ndjson": ResultFormat.ndjson, ".jsonl": ResultFormat.ndjson,
                  ".json": ResultFormat.json, ".parquet": ResultFormat.parquet, ".arrow": ResultFormat.arrow,
                  ".arrows": ResultFormat.arrow, ".xlsx": ResultFormat.xlsx}


def default_format(destination: Path | None) -> ResultFormat:
    """A table on a terminal; csv when piped or for a file whose suffix names no format."""
    if destination is not None:
        return SUFFIX_FORMATS.get(destination.suffix.lower(), ResultFormat.csv)
    return ResultFormat.table if out.is_terminal else ResultFormat.csv


def write_rows(fmt: ResultFormat, columns: list[Column], pages: Iterable[Page], stream: TextIO) -> int:
    """Write every row of ``pages`` to ``stream`` in a text ``fmt``; answers the number of rows written."""
    if fmt is ResultFormat.table:
        return _table(columns, pages)
    names = [column["name"] for column in columns]
    if fmt is ResultFormat.csv:
        return _csv(names, pages, stream)
    if fmt is ResultFormat.ndjson:
        return _ndjson(names, pages, stream)
    if fmt is ResultFormat.json:
        return _json_array(names, pages, stream)
    raise ValueError(f"{fmt.value} is not a text format")


def _csv(names: list[str], pages: Iterable[Page], stream: TextIO) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(names)
    count = 0
    for page in pages:
        writer.writerows([[_csv_cell(value) for value in row] for row in page])
        count += len(page)
    return count


def _ndjson(names: list[str], pages: Iterable[Page], stream: TextIO) -> int:
    count = 0
    for page in pages:
        stream.writelines(_json_object(names, row) + "\n" for row in page)
        count += len(page)
    return count


def _json_array(names: list[str], pages: Iterable[Page], stream: TextIO) -> int:
    """One JSON array of objects, written as it goes (the closing bracket comes last)."""
    count = 0
    stream.write("[")
    for page in pages:
        for row in page:
            stream.write(("\n  " if count == 0 else ",\n  ") + _json_object(names, row))
            count += 1
    stream.write("\n]\n" if count else "]\n")
    return count


def _table(columns: list[Column], pages: Iterable[Page]) -> int:
    table = Table(show_lines=False, header_style="bold", row_styles=["", "dim"] if out.is_terminal else None)
    for column in columns:
        numeric = column["type"].startswith(NUMERIC_TYPES)
        table.add_column(Text.assemble(column["name"], "\n", (column["type"], "dim italic")),
                         justify="right" if numeric else "left", overflow="fold")
    count = 0
    for page in pages:
        for row in page:
            table.add_row(*(_table_cell(value) for value in row))
            count += 1
    out.print(table)
    return count


def _json_object(names: list[str], row: list[Any]) -> str:
    return json.dumps(dict(zip(names, row)), ensure_ascii=False, separators=(",", ":"))


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _table_cell(value: Any) -> Text:
    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, bool):
        return Text("true" if value else "false")
    if isinstance(value, dict | list):
        return Text(json.dumps(value, ensure_ascii=False))
    return Text(str(value))
