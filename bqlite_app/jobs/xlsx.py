"""The whole result as an Excel workbook (``?format=xlsx``), in bounded memory.

xlsxwriter's ``constant_memory`` mode writes each row to a temporary file as it comes and assembles the workbook at
``close()``, so memory holds one row, never the result. An xlsx file is a zip that is only complete at the end, so
``exports`` has the workbook written to its spool file first and streams it from there.

Cells keep their type where Excel has one: numbers, booleans, dates and times (timestamps in UTC, without the
offset Excel cannot hold). Integers beyond 2^53, which Excel would round, and NaN/infinity, which it cannot store,
are written as text; so are the values JSON pages show as text (BYTES as base64, intervals, nested values as JSON).
A sheet holds at most 1,048,575 rows under its header; longer results continue on ``result 2``, ``result 3``, ...
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import xlsxwriter

from bqlite_app.jobs.jsonify import column_values, json_text

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_COLUMNS = 16_384                 # Excel's limit
_ROWS_PER_SHEET = 1_048_576 - 1      # Excel's limit, less the header row
_EXACT_INT = 2**53
_SLICE_ROWS = 8192
_EXCEL_EPOCH_YEAR = 1900

Cell = Callable[[Any, int, int, Any], None]   # (worksheet, row, column, value)


def write_workbook(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path) -> None:
    """Write ``batches`` (all of ``schema``) as a workbook at ``path``."""
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "remove_timezone": True,
                                                "strings_to_numbers": False, "strings_to_formulas": False,
                                                "strings_to_urls": False})
    try:
        formats = {"date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
                   "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"}),
                   "time": workbook.add_format({"num_format": "hh:mm:ss.000"}),
                   "header": workbook.add_format({"bold": True})}
        writers = [_cell_writer(field.type, formats) for field in schema]
        sheet, row = None, _ROWS_PER_SHEET
        for batch in _slices(batches):
            columns = [_values(column) for column in batch.columns]
            for values in zip(*columns, strict=True):
                if row == _ROWS_PER_SHEET:
                    sheet, row = _new_sheet(workbook, schema, formats["header"]), 0
                row += 1
                for index, (write, value) in enumerate(zip(writers, values, strict=True)):
                    if value is not None:
                        write(sheet, row, index, value)
        if sheet is None:
            _new_sheet(workbook, schema, formats["header"])
    finally:
        workbook.close()


def _new_sheet(workbook: Any, schema: pa.Schema, header: Any) -> Any:
    number = len(workbook.worksheets()) + 1
    sheet = workbook.add_worksheet("result" if number == 1 else f"result {number}")
    for index, field in enumerate(schema):
        sheet.write_string(0, index, field.name, header)
    sheet.freeze_panes(1, 0)
    return sheet


def _slices(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Slices of at most _SLICE_ROWS rows: a slice's cells become Python values at once."""
    for batch in batches:
        for start in range(0, batch.num_rows, _SLICE_ROWS):
            yield batch.slice(start, _SLICE_ROWS)


def _values(column: pa.Array) -> list[Any]:
    """Python values: native where a cell can hold them, else what a JSON page shows."""
    t = column.type
    if pa.types.is_timestamp(t) or pa.types.is_time64(t):
        # Excel counts milliseconds; Python's datetime stops at microseconds, and nanoseconds would not convert.
        column = column.cast(pa.timestamp("us", t.tz) if pa.types.is_timestamp(t) else pa.time64("us"), safe=False)
    if _native(t):
        return column.to_pylist()
    return [v if v is None or isinstance(v, str) else json_text(v) for v in column_values(column)]


def _native(t: pa.DataType) -> bool:
    return (pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
            or pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_date(t)
            or pa.types.is_timestamp(t) or pa.types.is_time(t))


def _cell_writer(t: pa.DataType, formats: dict[str, Any]) -> Cell:
    if pa.types.is_boolean(t):
        return lambda sheet, row, col, value: sheet.write_boolean(row, col, value)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return _number
    if pa.types.is_date(t):
        return _datetime(formats["date"])
    if pa.types.is_timestamp(t):
        return _datetime(formats["datetime"])
    if pa.types.is_time(t):
        return _datetime(formats["time"])
    return _text


def _number(sheet: Any, row: int, col: int, value: int | float | decimal.Decimal) -> None:
    number = float(value)
    if not math.isfinite(number) or (isinstance(value, int) and abs(value) > _EXACT_INT):
        sheet.write_string(row, col, str(value))    # Excel would round it, or cannot store it
    else:
        sheet.write_number(row, col, number)


def _datetime(cell_format: Any) -> Cell:
    def write(sheet: Any, row: int, col: int, value: dt.date | dt.time) -> None:
        if isinstance(value, dt.date) and value.year < _EXCEL_EPOCH_YEAR:
            sheet.write_string(row, col, value.isoformat())     # before Excel's calendar starts
        else:
            sheet.write_datetime(row, col, value, cell_format)
    return write


def _text(sheet: Any, row: int, col: int, value: str) -> None:
    sheet.write_string(row, col, value)
