"""Reading a source file as record batches of a known schema, in bounded memory, with bad records counted.

- CSV: batches of strings from ``_csv``, each column then typed by ``_convert`` (a whole column at a time).
- NDJSON: lines are parsed one batch (``batch_rows`` lines or ``block_bytes`` of text) at a time.
- PARQUET: ``ParquetFile.iter_batches`` (one row group's pages at a time).
- AVRO: ``fastavro.reader`` records, ``batch_rows`` at a time.

Every reader reports ``position`` (bytes or rows consumed of ``total``) for progress, and adds each bad record to a
``BadRecords``, which raises ``TooManyBadRecords`` at the first one past ``max_bad_records``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bqlite_app.errors import ValidationFailed
from bqlite_app.loads import _csv, _infer
from bqlite_app.loads._arrow import column_of
from bqlite_app.loads._avro import avro_arrow_schema, avro_plain
from bqlite_app.loads._coerce import build_batch, row_coercer
from bqlite_app.loads._convert import BadValue, convert_strings
from bqlite_app.loads._sources import arrow_message, json_chunks
from bqlite_app.loads.bad_records import BadRecords
from bqlite_app.loads.spec import LoadSpec
from engines.types import Column

BATCH_ROWS = 65_536
BLOCK_BYTES = 4 << 20
SAMPLE_ROWS = 500           # rows autodetect looks at, as BigQuery's does


@dataclass(frozen=True)
class Detected:
    """The columns a file holds by itself (autodetect, or a Parquet/Avro file's own schema), and for CSV how many
    leading rows to skip before data (the header included)."""

    columns: list[Column]
    skip_rows: int = 0


class Reader:
    """Batches of ``schema`` from one file; ``position``/``total`` measure progress in the same unit."""

    def __init__(self, path: Path, spec: LoadSpec, schema: pa.Schema, bad: BadRecords, *, skip_rows: int = 0,
                 batch_rows: int = BATCH_ROWS, block_bytes: int = BLOCK_BYTES) -> None:
        self.path, self.spec, self.schema, self.bad = path, spec, schema, bad
        self.skip_rows = skip_rows
        self.batch_rows, self.block_bytes = max(1, batch_rows), max(4096, block_bytes)
        self.position = 0
        self.total = max(1, path.stat().st_size)
        self.rows_read = 0          # records read, bad ones included

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        fmt = self.spec.source_format
        if fmt == "CSV":
            return self._csv_batches()
        if fmt == "NEWLINE_DELIMITED_JSON":
            return self._json_batches()
        if fmt == "PARQUET":
            return self._parquet_batches()
        return self._avro_batches()

    # -- CSV -------------------------------------------------------------------------------------------------

    def _csv_batches(self) -> Iterator[pa.RecordBatch]:
        for strings in _csv.string_batches(self.path, self.spec, self.schema.names, skip_rows=self.skip_rows,
                                           block_bytes=self.block_bytes, bad=self.bad, progress=self):
            yield self._typed(strings)

    def _typed(self, strings: pa.RecordBatch) -> pa.RecordBatch:
        first = self.rows_read
        self.rows_read += strings.num_rows
        columns: list[pa.Array] = []
        bad: dict[int, str] = {}
        for i, target in enumerate(self.schema):
            values, errors = convert_strings(strings.column(i), target)
            columns.append(values)
            for row, message in errors.items():
                bad.setdefault(row, message)
        batch = pa.RecordBatch.from_arrays(columns, schema=self.schema)
        return self._drop_bad(batch, bad, lambda row: f"row {self.skip_rows + first + row + 1}")

    def _drop_bad(self, batch: pa.RecordBatch, bad: dict[int, str],
                  where: Callable[[int], str]) -> pa.RecordBatch:
        if not bad:
            return batch
        for row in sorted(bad):
            self.bad.add(where(row), bad[row])
        keep = pa.array([i not in bad for i in range(batch.num_rows)])
        return batch.filter(keep)

    # -- NDJSON ----------------------------------------------------------------------------------------------

    def _json_batches(self) -> Iterator[pa.RecordBatch]:
        coerce = row_coercer(self.schema, ignore_unknown=self.spec.ignore_unknown_values)
        for lines, first_line in json_chunks(self.path, self.spec, self, self.batch_rows, self.block_bytes):
            rows: list[dict[str, Any]] = []
            where: list[int] = []
            for offset, line in enumerate(lines):
                number = first_line + offset
                if not line.strip():
                    continue
                self.rows_read += 1
                try:
                    rows.append(coerce(json.loads(line)))
                    where.append(number)
                except json.JSONDecodeError as exc:
                    self.bad.add(f"line {number}", f"invalid JSON: {exc.msg} at column {exc.colno}")
                except (BadValue, RecursionError) as exc:
                    self.bad.add(f"line {number}", str(exc) or "the value nests too deeply")
            batch, bad = build_batch(rows, self.schema)
            for row in sorted(bad):
                self.bad.add(f"line {where[row]}", bad[row])
            if batch.num_rows:
                yield batch

    # -- Parquet ---------------------------------------------------------------------------------------------

    def _parquet_batches(self) -> Iterator[pa.RecordBatch]:
        try:
            source = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise ValidationFailed(f"Error while reading Parquet data: {arrow_message(exc)}") from None
        with source:
            self.total = max(1, source.metadata.num_rows)
            try:
                for batch in source.iter_batches(batch_size=self.batch_rows, use_threads=False):
                    self.rows_read += batch.num_rows
                    self.position = self.rows_read
                    yield conform(batch, self.schema, self.spec.ignore_unknown_values)
            except (pa.ArrowException, OSError) as exc:
                raise ValidationFailed(f"Error while reading Parquet data: {arrow_message(exc)}") from None

    # -- Avro ------------------------------------------------------------------------------------------------

    def _avro_batches(self) -> Iterator[pa.RecordBatch]:
        coerce = row_coercer(self.schema, ignore_unknown=self.spec.ignore_unknown_values)
        with self.path.open("rb") as raw:
            try:
                records = fastavro.reader(raw)
                chunk: list[dict[str, Any]] = []
                numbers: list[int] = []
                for record in records:
                    self.rows_read += 1
                    try:
                        chunk.append(coerce(avro_plain(record)))
                        numbers.append(self.rows_read)
                    except BadValue as exc:
                        self.bad.add(f"record {self.rows_read}", str(exc))
                    if len(chunk) >= self.batch_rows:
                        self.position = raw.tell()
                        yield self._avro_batch(chunk, numbers)
                        chunk, numbers = [], []
                if chunk:
                    yield self._avro_batch(chunk, numbers)
            except ValidationFailed:
                raise
            except Exception as exc:    # whatever fastavro raises on a corrupt file is the file's fault
                raise ValidationFailed(f"Error while reading Avro data: {arrow_message(exc)}") from None

    def _avro_batch(self, rows: list[dict[str, Any]], numbers: list[int]) -> pa.RecordBatch:
        batch, bad = build_batch(rows, self.schema)
        for row in sorted(bad):
            self.bad.add(f"record {numbers[row]}", bad[row])
        return batch


# -- detection ---------------------------------------------------------------------------------------------------

def detect(path: Path, spec: LoadSpec) -> Detected:
    """The file's own columns: autodetected for CSV/NDJSON, read from the file for PARQUET/AVRO."""
    fmt = spec.source_format
    if fmt == "CSV":
        columns, skip = _csv.detect_columns(path, spec, sample_rows=SAMPLE_ROWS, block_bytes=BLOCK_BYTES)
        return Detected(columns, skip_rows=skip)
    if fmt == "NEWLINE_DELIMITED_JSON":
        rows = []
        for lines, _ in json_chunks(path, spec, None, SAMPLE_ROWS, BLOCK_BYTES):
            for line in lines:
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except (json.JSONDecodeError, RecursionError):
                        continue    # counted as a bad record when loaded
            break
        return Detected(_infer.json_columns(rows))
    if fmt == "PARQUET":
        try:
            arrow = pq.read_schema(path)
        except (pa.ArrowException, OSError) as exc:
            raise ValidationFailed(f"Error while reading Parquet data: {arrow_message(exc)}") from None
        return Detected(_columns_of(arrow))
    return Detected(_columns_of(avro_arrow_schema(path)))


def _columns_of(schema: pa.Schema) -> list[Column]:
    try:
        return [column_of(f) for f in schema]
    except TypeError as exc:
        raise ValidationFailed(f"schema: {exc}") from None


# -- conforming batches to a schema ------------------------------------------------------------------------------

def conform(batch: pa.RecordBatch, schema: pa.Schema, ignore_unknown: bool) -> pa.RecordBatch:
    """``batch`` with ``schema``'s columns by name (case-insensitive): missing ones null, types cast.

    A column the schema lacks is refused unless ``ignore_unknown`` (then dropped).
    """
    if batch.schema.equals(schema):
        return batch
    by_name = {name.lower(): i for i, name in enumerate(batch.schema.names)}
    wanted = {f.name.lower() for f in schema}
    extra = [name for name in batch.schema.names if name.lower() not in wanted]
    if extra and not ignore_unknown:
        raise ValidationFailed(f"no such field: {extra[0]} (the destination has no column of that name; "
                               "set ignore_unknown_values to skip it)")
    columns = []
    for target in schema:
        index = by_name.get(target.name.lower())
        if index is None:
            if not target.nullable:
                raise ValidationFailed(f"missing required field {target.name}")
            columns.append(pa.nulls(batch.num_rows, target.type))
            continue
        column = batch.column(index)
        try:
            columns.append(column if column.type.equals(target.type) else pc.cast(column, target.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise ValidationFailed(f"field {target.name}: cannot convert {column.type} to the destination's "
                                   f"{target.type}: {arrow_message(exc)}") from None
    return pa.RecordBatch.from_arrays(columns, schema=schema)
