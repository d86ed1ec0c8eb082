"""What a load is asked to do: BigQuery's load configuration in our vocabulary, checked before any job exists.

Field meanings follow BigQuery's ``JobConfigurationLoad``; every client string is checked here, so a mistake is a
``ValidationFailed`` naming the field (a 4xx), never something that breaks later in an engine.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Literal

from bqlite_app.datasets import check_dataset_name
from bqlite_app.errors import ValidationFailed
from engines.types import Column, ListOf, MapOf, Struct

SourceFormat = Literal["CSV", "NEWLINE_DELIMITED_JSON", "PARQUET", "AVRO"]
WriteDisposition = Literal["WRITE_APPEND", "WRITE_TRUNCATE", "WRITE_EMPTY"]
CreateDisposition = Literal["CREATE_IF_NEEDED", "CREATE_NEVER"]

SOURCE_FORMATS: tuple[str, ...] = ("CSV", "NEWLINE_DELIMITED_JSON", "PARQUET", "AVRO")
WRITE_DISPOSITIONS: tuple[str, ...] = ("WRITE_APPEND", "WRITE_TRUNCATE", "WRITE_EMPTY")
CREATE_DISPOSITIONS: tuple[str, ...] = ("CREATE_IF_NEEDED", "CREATE_NEVER")
# The encodings BigQuery accepts for CSV and JSON, as Python codec names.
ENCODINGS: dict[str, str] = {
    "UTF-8": "utf-8", "UTF8": "utf-8", "ISO-8859-1": "latin-1", "LATIN1": "latin-1",
    "UTF-16BE": "utf-16-be", "UTF-16LE": "utf-16-le", "UTF-32BE": "utf-32-be", "UTF-32LE": "utf-32-le",
}
MAX_BAD_RECORDS = 1_000_000
MAX_SKIP_ROWS = 1_000_000
MAX_NULL_MARKER = 64
# Table names as BigQuery's letters/digits/underscores/dashes (no dots, quotes or spaces: they are quoted into DDL,
# but nothing good comes of them). Dataset names follow ``bqlite_app.datasets``, as grants know them.
_TABLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,1023}$")
# Our own staging tables; a client may not name (and so overwrite or read) one.
INTERNAL_PREFIX = "__bqlite_"


@dataclass(frozen=True)
class LoadSpec:
    """One load: where the rows go, how the file is read, and what to do with the table already there.

    ``schema``: the declared columns (None: autodetect, the file's own schema for PARQUET/AVRO, or the existing
    table's). ``skip_leading_rows`` None means BigQuery's "unspecified": with autodetect the first CSV row is taken
    as a header when it looks like one. ``field_delimiter`` accepts ``\\t`` and ``tab``; ``quote`` "" turns quoting
    off. ``null_marker`` None means the empty string. ``max_bad_records`` rows may fail (they are skipped and
    reported); one more fails the load.
    """

    dataset: str
    table: str
    engine: str = "duckdb"
    source_format: SourceFormat = "CSV"
    schema: tuple[Column, ...] | list[Column] | None = None
    autodetect: bool = False
    write_disposition: WriteDisposition = "WRITE_APPEND"
    create_disposition: CreateDisposition = "CREATE_IF_NEEDED"
    skip_leading_rows: int | None = None
    field_delimiter: str = ","
    quote: str = '"'
    allow_jagged_rows: bool = False
    allow_quoted_newlines: bool = False
    max_bad_records: int = 0
    ignore_unknown_values: bool = False
    null_marker: str | None = None
    encoding: str = "UTF-8"

    def __post_init__(self) -> None:
        if self.schema is not None and not isinstance(self.schema, tuple):
            object.__setattr__(self, "schema", tuple(self.schema))    # a list is welcome; the spec stays frozen

    @property
    def destination(self) -> str:
        return f"{self.dataset}.{self.table}"

    @property
    def delimiter(self) -> str:
        return "\t" if self.field_delimiter.lower() in ("\\t", "tab") else self.field_delimiter

    @property
    def codec(self) -> str:
        return ENCODINGS[self.encoding.upper()]


def validate(spec: LoadSpec) -> None:
    """Raise ``ValidationFailed`` naming the first field that is wrong."""
    check_dataset_name(spec.dataset)
    if not _TABLE.fullmatch(spec.table or "") or spec.table.startswith(INTERNAL_PREFIX):
        raise ValidationFailed(f"table: {spec.table!r} must be letters, digits, underscores or dashes "
                               f"(at most 1024, not starting with {INTERNAL_PREFIX})")
    _one_of("source_format", spec.source_format, SOURCE_FORMATS)
    _one_of("write_disposition", spec.write_disposition, WRITE_DISPOSITIONS)
    _one_of("create_disposition", spec.create_disposition, CREATE_DISPOSITIONS)
    if spec.encoding.upper() not in ENCODINGS:
        raise ValidationFailed(f"encoding: must be one of {', '.join(sorted(set(ENCODINGS)))}, got {spec.encoding!r}")
    codecs.lookup(spec.codec)
    if not 0 <= spec.max_bad_records <= MAX_BAD_RECORDS:
        raise ValidationFailed(f"max_bad_records: must be between 0 and {MAX_BAD_RECORDS}, got {spec.max_bad_records}")
    if spec.skip_leading_rows is not None and not 0 <= spec.skip_leading_rows <= MAX_SKIP_ROWS:
        raise ValidationFailed(f"skip_leading_rows: must be between 0 and {MAX_SKIP_ROWS}")
    if spec.source_format == "CSV":
        _check_csv(spec)
    if spec.schema is not None:
        _check_schema(spec)


def _check_csv(spec: LoadSpec) -> None:
    delimiter = spec.delimiter
    if len(delimiter) != 1 or delimiter in "\r\n":
        raise ValidationFailed(f"field_delimiter: must be one character (or \\t), got {spec.field_delimiter!r}")
    if len(spec.quote) > 1 or spec.quote in ("\r", "\n") or (spec.quote and spec.quote == delimiter):
        raise ValidationFailed(f"quote: must be one character other than the delimiter, or empty, got {spec.quote!r}")
    if spec.null_marker is not None and (len(spec.null_marker) > MAX_NULL_MARKER or "\n" in spec.null_marker):
        raise ValidationFailed(f"null_marker: at most {MAX_NULL_MARKER} characters on one line")
    for column in spec.schema or ():
        if isinstance(column.type, ListOf | MapOf | Struct):
            raise ValidationFailed(f"schema: field {column.name}: CSV cannot hold RECORD or REPEATED fields")


def _check_schema(spec: LoadSpec) -> None:
    if not spec.schema:
        raise ValidationFailed("schema: must have at least one field")
    seen: set[str] = set()
    for column in spec.schema:
        key = column.name.lower()       # BigQuery's names are case-insensitive
        if key in seen:
            raise ValidationFailed(f"schema: duplicate field {column.name!r}")
        seen.add(key)


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValidationFailed(f"{name}: must be one of {', '.join(allowed)}, got {value!r}")
