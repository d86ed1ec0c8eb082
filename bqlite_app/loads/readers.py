"""Reading a source file as record batches of a known schema, in bounded memory, with bad records counted.

- CSV: ``pyarrow.csv.open_csv`` reads one block (``block_bytes`` of text) at a time, every column as a string;
  ``_convert`` then types each column. Rows with the wrong number of fields go to the invalid-row handler: padded
  (``allow_jagged_rows``), cut (``ignore_unknown_values``) or counted as bad.
- NDJSON: lines are parsed one batch (``batch_rows`` lines or ``block_bytes`` of text) at a time.
- PARQUET: ``ParquetFile.iter_batches`` (one row group's pages at a time).
- AVRO: ``fastavro.reader`` records, ``batch_rows`` at a time.

Every reader reports ``position`` (bytes or rows consumed of ``total``) for progress, and adds each bad record to a
``BadRecords``, which raises ``TooManyBadRecords`` at the first one past ``max_bad_records``.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import fastavro
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bqlite_app.errors import ValidationFailed
from bqlite_app.loads import _infer
from bqlite_app.loads._arrow import arrow_schema, column_of
from bqlite_app.loads._convert import BadValue, build_batch, convert_strings, row_coercer
from bqlite_app.loads.spec import LoadSpec
from engines.types import Column

BATCH_ROWS = 65_536
BLOCK_BYTES = 4 << 20
SAMPLE_ROWS = 500           # rows autodetect looks at, as BigQuery's does
# BigQuery's largest JSON row; a longer line is refused rather than held in memory whole.
MAX_LINE_CHARS = 100 << 20
# Sampled CSV columns stay text (pyarrow's own inference would turn "007" into 7 before ours looks); its
# generated names are f0, f1, ...
_SAMPLE_AS_TEXT = {f"f{i}": pa.string() for i in range(_infer.MAX_COLUMNS + 1)}
KEPT_PROBLEMS = 100         # bad records remembered for the job's report (all are counted)


class TooManyBadRecords(ValidationFailed):
    """More bad records than ``max_bad_records`` allows; the load fails and nothing is written."""


@dataclass(frozen=True)
class Problem:
    location: str           # "line 12", "row 40", "record 7"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class BadRecords:
    limit: int
    count: int = 0
    problems: list[Problem] = field(default_factory=list)

    def add(self, location: str, message: str) -> None:
        self.count += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(Problem(location, message))
        if self.count > self.limit:
            shown = "; ".join(str(p) for p in self.problems[:5])
            raise TooManyBadRecords(
                f"Error while reading data: too many bad records ({self.count} found, max_bad_records is "
                f"{self.limit}): {shown}")


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
            return self._csv()
        if fmt == "NEWLINE_DELIMITED_JSON":
            return self._json()
        if fmt == "PARQUET":
            return self._parquet()
        return self._avro()

    # -- CSV -------------------------------------------------------------------------------------------------

    def _csv(self) -> Iterator[pa.RecordBatch]:
        names = self.schema.names
        pending: list[list[str | None]] = []     # jagged rows, padded, waiting to join the next batch
        handler = _JaggedRows(self.spec, len(names), self.bad, pending)
        with _Counted(self.path, self) as source:
            try:
                reader = pacsv.open_csv(source, read_options=_csv_read_options(self.spec, self.block_bytes,
                                                                                names, self.skip_rows),
                                        parse_options=_csv_parse_options(self.spec, handler),
                                        convert_options=_csv_convert_options(self.spec, names))
                for strings in _batches(reader, handler):
                    yield self._typed(strings)
                    if pending:
                        yield self._typed(_strings_batch(pending, names))
                        pending.clear()
            except pa.ArrowInvalid as exc:
                handler.raise_pending()
                raise ValidationFailed(f"Error while reading CSV data: {_arrow_message(exc)}") from None

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

    def _drop_bad(self, batch: pa.RecordBatch, bad: dict[int, str], where: Any) -> pa.RecordBatch:
        if not bad:
            return batch
        for row in sorted(bad):
            self.bad.add(where(row), bad[row])
        keep = pa.array([i not in bad for i in range(batch.num_rows)])
        return batch.filter(keep)

    # -- NDJSON ----------------------------------------------------------------------------------------------

    def _json(self) -> Iterator[pa.RecordBatch]:
        coerce = row_coercer(self.schema, ignore_unknown=self.spec.ignore_unknown_values)
        for lines, first_line in _json_chunks(self.path, self.spec, self, self.batch_rows, self.block_bytes):
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

    def _parquet(self) -> Iterator[pa.RecordBatch]:
        try:
            source = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise ValidationFailed(f"Error while reading Parquet data: {_arrow_message(exc)}") from None
        with source:
            self.total = max(1, source.metadata.num_rows)
            try:
                for batch in source.iter_batches(batch_size=self.batch_rows, use_threads=False):
                    self.rows_read += batch.num_rows
                    self.position = self.rows_read
                    yield conform(batch, self.schema, self.spec.ignore_unknown_values)
            except (pa.ArrowException, OSError) as exc:
                raise ValidationFailed(f"Error while reading Parquet data: {_arrow_message(exc)}") from None

    # -- Avro ------------------------------------------------------------------------------------------------

    def _avro(self) -> Iterator[pa.RecordBatch]:
        coerce = row_coercer(self.schema, ignore_unknown=self.spec.ignore_unknown_values)
        with self.path.open("rb") as raw:
            try:
                records = fastavro.reader(raw)
                chunk: list[dict[str, Any]] = []
                numbers: list[int] = []
                for record in records:
                    self.rows_read += 1
                    try:
                        chunk.append(coerce(_avro_plain(record)))
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
                raise ValidationFailed(f"Error while reading Avro data: {_arrow_message(exc)}") from None

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
        return _detect_csv(path, spec)
    if fmt == "NEWLINE_DELIMITED_JSON":
        rows = []
        for lines, _ in _json_chunks(path, spec, None, SAMPLE_ROWS, BLOCK_BYTES):
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
            raise ValidationFailed(f"Error while reading Parquet data: {_arrow_message(exc)}") from None
        return Detected(_columns_of(arrow))
    return Detected(_columns_of(avro_arrow_schema(path)))


def csv_skip_rows(spec: LoadSpec) -> int:
    """Rows before data when the schema is not detected (a declared or existing table's schema)."""
    return spec.skip_leading_rows or 0


def _detect_csv(path: Path, spec: LoadSpec) -> Detected:
    requested = spec.skip_leading_rows
    # The header, when there is one, is the last skipped row (BigQuery: "skip N-1 rows, detect the header in N").
    skip_before = max(0, (requested or 0) - 1)
    bad = BadRecords(limit=1 << 30)     # the sample's bad rows only matter when the rows are loaded
    rows: list[list[str | None]] = []
    with _Counted(path, None) as source:
        handler = _JaggedRows(spec, None, bad, None)
        options = _csv_read_options(spec, BLOCK_BYTES, None, skip_before)
        try:
            reader = pacsv.open_csv(source, read_options=options,
                                    parse_options=_csv_parse_options(spec, handler),
                                    convert_options=pacsv.ConvertOptions(
                                        null_values=[spec.null_marker or ""], strings_can_be_null=True,
                                        quoted_strings_can_be_null=False, column_types=_SAMPLE_AS_TEXT))
            for batch in reader:
                rows.extend(list(r) for r in zip(*(c.to_pylist() for c in batch.columns), strict=True))
                if len(rows) > SAMPLE_ROWS:
                    break
        except pa.ArrowInvalid as exc:
            if not rows:
                raise ValidationFailed(f"Error while reading CSV data: {_arrow_message(exc)}") from None
    rows = rows[:SAMPLE_ROWS + 1]
    header: bool | None = None if requested is None else requested > 0
    guess = _infer.csv_columns(rows, header=header)
    if requested is None:
        skip = 1 if guess.header else 0
    else:
        skip = requested
    return Detected(guess.columns, skip_rows=skip)



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
                                   f"{target.type}: {_arrow_message(exc)}") from None
    return pa.RecordBatch.from_arrays(columns, schema=schema)


# -- CSV options -------------------------------------------------------------------------------------------------

def _csv_read_options(spec: LoadSpec, block_bytes: int, names: list[str] | None, skip: int) -> pacsv.ReadOptions:
    return pacsv.ReadOptions(
        use_threads=False, block_size=block_bytes, skip_rows=skip, column_names=names,
        autogenerate_column_names=names is None, encoding=_csv_encoding(spec),
    )


def _csv_encoding(spec: LoadSpec) -> str:
    return "utf8" if spec.codec == "utf-8" else spec.codec


def _csv_parse_options(spec: LoadSpec, handler: _JaggedRows) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(
        delimiter=spec.delimiter, quote_char=spec.quote or False, double_quote=True,
        newlines_in_values=spec.allow_quoted_newlines, ignore_empty_lines=True, invalid_row_handler=handler,
    )


def _csv_convert_options(spec: LoadSpec, names: list[str]) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), null_values=[spec.null_marker or ""],
        strings_can_be_null=True, quoted_strings_can_be_null=False,
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


def _arrow_message(exc: BaseException, limit: int = 300) -> str:
    """pyarrow's message on one line, cut, and printable (it may quote a whole row of binary garbage)."""
    text = "".join(c if c.isprintable() else "?" for c in " ".join(str(exc).split()))
    return text if len(text) <= limit else text[:limit - 3] + "..."


# -- NDJSON chunks -----------------------------------------------------------------------------------------------

def _json_chunks(path: Path, spec: LoadSpec, progress: Reader | None, max_lines: int,
                 max_chars: int) -> Iterator[tuple[list[str], int]]:
    """(lines, number of the first line) of at most ``max_lines`` lines or about ``max_chars`` characters."""
    codec = "utf-8-sig" if spec.codec == "utf-8" else spec.codec
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=codec, newline="\n")
        lines: list[str] = []
        size = 0
        first = number = 1
        try:
            while line := text.readline(MAX_LINE_CHARS):
                if len(line) >= MAX_LINE_CHARS and not line.endswith("\n"):
                    raise ValidationFailed(f"Error while reading JSON data: line {number} is longer than "
                                           f"{MAX_LINE_CHARS:,} characters")
                lines.append(line)
                size += len(line)
                number += 1
                if len(lines) >= max_lines or size >= max_chars:
                    if progress is not None:
                        progress.position = raw.tell()
                    yield lines, first
                    lines, size, first = [], 0, number
        except UnicodeDecodeError as exc:
            raise ValidationFailed(f"Error while reading JSON data: line {number} is not valid "
                                   f"{spec.encoding} ({exc.reason})") from None
        if lines:
            yield lines, first


# -- Avro --------------------------------------------------------------------------------------------------------

def avro_arrow_schema(path: Path) -> pa.Schema:
    """The Arrow schema of an Avro file's writer schema (BigQuery's Avro mapping; logical types honoured)."""
    with path.open("rb") as raw:
        try:
            schema = fastavro.reader(raw).writer_schema
        except Exception as exc:        # whatever fastavro raises on a corrupt file is the file's fault
            raise ValidationFailed(f"Error while reading Avro data: {_arrow_message(exc)}") from None
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ValidationFailed("Avro: the file's schema must be a record")
    named: dict[str, Any] = {}
    fields = [_avro_field(f["name"], f["type"], named, 0) for f in schema.get("fields", [])]
    return pa.schema(fields)


_AVRO_PRIMITIVES = {
    "boolean": pa.bool_(), "int": pa.int64(), "long": pa.int64(), "float": pa.float64(), "double": pa.float64(),
    "bytes": pa.binary(), "string": pa.string(),
}
_AVRO_LOGICAL = {
    "date": pa.date32(), "time-millis": pa.time64("us"), "time-micros": pa.time64("us"),
    "timestamp-millis": pa.timestamp("us", tz="UTC"), "timestamp-micros": pa.timestamp("us", tz="UTC"),
    "local-timestamp-millis": pa.timestamp("us"), "local-timestamp-micros": pa.timestamp("us"),
    "uuid": pa.string(),
}
MAX_AVRO_DEPTH = 15


def _avro_field(name: str, avro: Any, named: dict[str, Any], depth: int) -> pa.Field:
    nullable = False
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        nullable = len(branches) < len(avro)
        if len(branches) != 1:
            raise ValidationFailed(f"Avro: field {name}: a union of several types is not supported")
        avro = branches[0]
    data_type = _avro_type(name, avro, named, depth)
    if pa.types.is_list(data_type):
        nullable = False
    return pa.field(name, data_type, nullable=nullable)


def _avro_type(name: str, avro: Any, named: dict[str, Any], depth: int) -> pa.DataType:  # noqa: PLR0911
    if depth > MAX_AVRO_DEPTH:
        raise ValidationFailed(f"Avro: field {name} nests deeper than {MAX_AVRO_DEPTH} levels")
    if isinstance(avro, str):
        if avro in _AVRO_PRIMITIVES:
            return _AVRO_PRIMITIVES[avro]
        if avro in named:
            return _avro_type(name, named[avro], named, depth + 1)
        raise ValidationFailed(f"Avro: field {name}: unsupported type {avro!r}")
    if isinstance(avro, list):
        return _avro_field(name, avro, named, depth).type
    kind, logical = avro.get("type"), avro.get("logicalType")
    if "name" in avro and kind in ("record", "enum", "fixed"):
        named[avro["name"]] = avro
        if avro.get("namespace"):
            named[f"{avro['namespace']}.{avro['name']}"] = avro
    if logical == "decimal" and kind in ("bytes", "fixed"):
        precision, scale = int(avro.get("precision", 38)), int(avro.get("scale", 0))
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if logical in _AVRO_LOGICAL:
        return _AVRO_LOGICAL[logical]
    if kind == "record":
        fields = [_avro_field(f["name"], f["type"], named, depth + 1) for f in avro.get("fields", [])]
        if not fields:
            raise ValidationFailed(f"Avro: record field {name} has no fields")
        return pa.struct(fields)
    if kind == "enum":
        return pa.string()
    if kind == "fixed":
        return pa.binary()
    if kind == "array":
        item = _avro_field("item", avro["items"], named, depth + 1)
        return pa.list_(pa.field("item", item.type, nullable=False))
    if kind == "map":
        value = _avro_field("value", avro["values"], named, depth + 1)
        return pa.map_(pa.string(), pa.field("value", value.type, nullable=False))
    if isinstance(kind, str | list | dict):
        return _avro_type(name, kind, named, depth + 1)
    raise ValidationFailed(f"Avro: field {name}: unsupported type {avro!r}")


def _avro_plain(value: Any) -> Any:
    """fastavro's values as the coercers take them (a UUID as its text; the rest already fit)."""
    if isinstance(value, dict):
        return {k: _avro_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_avro_plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


# -- progress ----------------------------------------------------------------------------------------------------

class _Counted(io.RawIOBase):
    """The file, counting bytes read into ``progress.position``."""

    def __init__(self, path: Path, progress: Reader | None) -> None:
        super().__init__()
        self._file: BinaryIO = path.open("rb")
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._file.readinto(buffer)
        if self._progress is not None and count:
            self._progress.position += count
        return count or 0

    def close(self) -> None:
        self._file.close()
        super().close()

    def __enter__(self) -> _Counted:
        return self


def source_schema(columns: list[Column] | tuple[Column, ...]) -> pa.Schema:
    return arrow_schema(list(columns))
