"""Numbers, durations and times as people read them: one voice for the web UI and the CLI.

Standard library only: the CLI imports this, and it must stay light.
"""

from __future__ import annotations

from datetime import UTC, datetime

DASH = "—"


def human_bytes(value: int | None) -> str:
    """Binary multiples with the familiar short names (1 KB = 1024 B), as BigQuery's console shows sizes."""
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
    """In the local time zone, to the second (the viewer's: the UI, the CLI and the backend share a machine)."""
    value = parse_time(iso)
    return DASH if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
