"""Human-readable numbers, times and errors for the UI states (the pages show strings; the states shape them)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import unquote

from bqlite_app.errors import BqliteError, SchemaIncompatible

DASH = "—"
_SENTENCE_BREAK = re.compile(r"(?<=\.)\s+(?=[A-Z\"'`])")


def human_bytes(value: int | None) -> str:
    if value is None:
        return DASH
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # unreachable; keeps type checkers content


def human_count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def human_duration_ms(value: float | None) -> str:
    if value is None:
        return DASH
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def parse_time(iso: str | None) -> datetime | None:
    if not iso:
        return None
    value = datetime.fromisoformat(iso)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local_time(iso: str | None) -> str:
    """The machine's local time: the UI and the backend run on the same machine."""
    value = parse_time(iso)
    return DASH if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


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
