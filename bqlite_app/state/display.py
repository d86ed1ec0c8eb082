"""Readable errors and page paths for the UI states (numbers and times: ``bqlite_app.humanize``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import unquote

from bqlite_app.errors import BqliteError, SchemaIncompatible
from bqlite_app.humanize import parse_time

_SENTENCE_BREAK = re.compile(r"(?<=\.)\s+(?=[A-Z\"'`])")


def seconds_between(start: str | None, end: str | None) -> float | None:
    first, last = parse_time(start), parse_time(end)
    if first is None:
        return None
    return ((last or datetime.now(UTC)) - first).total_seconds()


def error_lines(exc: BaseException) -> tuple[str, list[str]]:
    """A title and the detail split into lines: protoc's file:line:col lines, or one line per breaking change."""
    if not isinstance(exc, BqliteError):
        return "Unexpected error", [f"{type(exc).__name__}: {exc}"]
    title = {
        "SCHEMA_PARSE_FAILED": "The .proto did not compile",
        "SCHEMA_INCOMPATIBLE": "Not compatible with the registered version",
        "VALIDATION_FAILED": "Invalid input",
        "PROTOBUF_DECODE_FAILED": "The data did not decode",
        "TABLE_NOT_FOUND": "No table to write to",
    }.get(exc.error_code, exc.error_code.replace("_", " ").capitalize())
    detail = exc.detail.strip()
    if isinstance(exc, SchemaIncompatible) and ": " in detail:
        head, _, rest = detail.partition(": ")
        return title, [head + ":", *(f"• {s}" for s in _SENTENCE_BREAK.split(rest) if s.strip())]
    return title, [line for line in detail.splitlines() if line.strip()] or [exc.error_code]


def route_tail(path: str) -> str:
    """The last segment of a page path: the ``[job_id]`` or ``[schema_id]`` of a detail page."""
    return unquote(path.rstrip("/").rsplit("/", 1)[-1])
