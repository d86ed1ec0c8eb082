"""CSV through pyarrow's streaming reader: rows as batches of strings (``_convert`` types them afterwards), jagged
rows padded or cut as the spec allows, and the sample autodetect looks at.

``pyarrow.csv.open_csv`` reads one block (``block_bytes`` of text) at a time, every column as a string. Rows with
the wrong number of fields go to the invalid-row handler: padded (``allow_jagged_rows``), cut
(``ignore_unknown_values``) or counted as bad.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from bqlite_app.errors import ValidationFailed
from bqlite_app.loads import _infer
from bqlite_app.loads._sources import CountedFile, Progress, arrow_message
from bqlite_app.loads.bad_records import BadRecords, TooManyBadRecords
from bqlite_app.loads.spec import LoadSpec
from engines.types import Column

# Sampled CSV columns stay text (pyarrow's own inference would turn "007" into 7 before ours looks); its
# generated names are f0, f1, ...
_SAMPLE_AS_TEXT = {f"f{i}": pa.string() for i in range(_infer.MAX_COLUMNS + 1)}


def string_batches(path: Path, spec: LoadSpec, names: list[str], *, skip_rows: int, block_bytes: int,
                   bad: BadRecords, progress: Progress) -> Iterator[pa.RecordBatch]:
    """The file's rows after ``skip_rows`` as batches of strings named ``names`` (nulls already decided); padded
    jagged rows follow the block they came from."""
    pending: list[list[str | None]] = []     # jagged rows, padded, waiting to join the next batch
    handler = _JaggedRows(spec, len(names), bad, pending)
    with CountedFile(path, progress) as source:
        try:
            reader = pacsv.open_csv(source, read_options=_read_options(spec, block_bytes, names, skip_rows),
                                    parse_options=_parse_options(spec, handler),
                                    convert_options=pacsv.ConvertOptions(
                                        column_types=dict.fromkeys(names, pa.string()),
                                        null_values=[spec.null_marker or ""], strings_can_be_null=True,
                                        quoted_strings_can_be_null=False))
            for strings in _batches(reader, handler):
                yield strings
                if pending:
                    yield _strings_batch(pending, names)
                    pending.clear()
        except pa.ArrowInvalid as exc:
            handler.raise_pending()
            raise ValidationFailed(f"Error while reading CSV data: {arrow_message(exc)}") from None


def detect_columns(path: Path, spec: LoadSpec, *, sample_rows: int, block_bytes: int) -> tuple[list[Column], int]:
    """The columns autodetect finds in the first ``sample_rows`` rows, and how many leading rows to skip before
    data (the header included)."""
    requested = spec.skip_leading_rows
    # The header, when there is one, is the last skipped row (BigQuery: "skip N-1 rows, detect the header in N").
    skip_before = max(0, (requested or 0) - 1)
    bad = BadRecords(limit=1 << 30)     # the sample's bad rows only matter when the rows are loaded
    rows: list[list[str | None]] = []
    with CountedFile(path, None) as source:
        handler = _JaggedRows(spec, None, bad, None)
        try:
            reader = pacsv.open_csv(source, read_options=_read_options(spec, block_bytes, None, skip_before),
                                    parse_options=_parse_options(spec, handler),
                                    convert_options=pacsv.ConvertOptions(
                                        null_values=[spec.null_marker or ""], strings_can_be_null=True,
                                        quoted_strings_can_be_null=False, column_types=_SAMPLE_AS_TEXT))
            for batch in reader:
                rows.extend(list(r) for r in zip(*(c.to_pylist() for c in batch.columns), strict=True))
                if len(rows) > sample_rows:
                    break
        except pa.ArrowInvalid as exc:
            if not rows:
                raise ValidationFailed(f"Error while reading CSV data: {arrow_message(exc)}") from None
    rows = rows[:sample_rows + 1]
    header: bool | None = None if requested is None else requested > 0
    guess = _infer.csv_columns(rows, header=header)
    if requested is None:
        return guess.columns, 1 if guess.header else 0
    return guess.columns, requested


def _read_options(spec: LoadSpec, block_bytes: int, names: list[str] | None, skip: int) -> pacsv.ReadOptions:
    return pacsv.ReadOptions(
        use_threads=False, block_size=block_bytes, skip_rows=skip, column_names=names,
        autogenerate_column_names=names is None, encoding="utf8" if spec.codec == "utf-8" else spec.codec,
    )


def _parse_options(spec: LoadSpec, handler: _JaggedRows) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(
        delimiter=spec.delimiter, quote_char=spec.quote or False, double_quote=True,
        newlines_in_values=spec.allow_quoted_newlines, ignore_empty_lines=True, invalid_row_handler=handler,
    )


class _JaggedRows:
    """pyarrow's invalid-row handler: a row with too few fields is padded with nulls (``allow_jagged_rows``), one
    with too many is cut (``ignore_unknown_values``); anything else is a bad record. pyarrow cannot pad a row
    itself, so padded rows are parsed here and joined to the output after the block they came from."""

    def __init__(self, spec: LoadSpec, width: int | None, bad: BadRecords, pending: list[list[str | None]] | None,
                 ) -> None:
        self._spec, self._width, self._bad, self._pending = spec, width, bad, pending
        self._error: TooManyBadRecords | None = None

    def __call__(self, row: Any) -> str:
        expected, actual = row.expected_columns, row.actual_columns
        fits = ((actual < expected and self._spec.allow_jagged_rows)
                or (actual > expected and self._spec.ignore_unknown_values))
        if fits and self._pending is not None:
            values = self._parse(row.text)
            if values is not None:
                self._pending.append((values + [None] * expected)[:expected])
                return "skip"
        elif fits:
            return "skip"       # sampling: the row adds nothing to the detection
        where = f"line {row.number}" if row.number is not None else "a row"
        try:
            self._bad.add(where, f"expected {expected} fields, found {actual}")
        except TooManyBadRecords as exc:
            self._error = exc
            return "error"
        return "skip"

    def _parse(self, text: str) -> list[str | None] | None:
        quote = self._spec.quote
        reader = csv.reader([text.rstrip("\r\n")], delimiter=self._spec.delimiter, quotechar=quote or None,
                            quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE, doublequote=True, strict=False)
        try:
            parsed = next(reader, None)
        except csv.Error:
            return None         # (a field past the csv module's size limit) a bad record, said so by the caller
        if parsed is None:
            return None
        marker = self._spec.null_marker or ""
        return [None if value == marker else value for value in parsed]

    def raise_pending(self) -> None:
        if self._error is not None:
            raise self._error


def _batches(reader: pacsv.CSVStreamingReader, handler: _JaggedRows) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid:
            handler.raise_pending()
            raise
        handler.raise_pending()
        yield batch


def _strings_batch(rows: list[list[str | None]], names: list[str]) -> pa.RecordBatch:
    columns = [pa.array([r[i] for r in rows], pa.string()) for i in range(len(names))]
    return pa.RecordBatch.from_arrays(columns, names=names)
