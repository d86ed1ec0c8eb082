"""What both dialects' rules share: the verdict, the deployment's limits, and file-like table names."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    construct: str       # what the user wrote, e.g. "read_csv()" or "SYSTEM"
    reason: str          # why, in a few words


@dataclass(frozen=True)
class Limits:
    """The deployment's ceilings, which a statement's own SETTINGS may lower but never raise or remove."""

    files_readable: bool = False          # BQLITE_ALLOWED_DIRECTORIES is set: DuckDB may read files under them
    max_memory_bytes: int | None = None
    max_execution_time_s: int = 86400
    max_threads: int = 64


_FILE_SUFFIXES = (
    ".csv", ".tsv", ".txt", ".parquet", ".json", ".jsonl", ".ndjson", ".arrow", ".ipc", ".feather", ".avro",
    ".xlsx", ".db", ".duckdb", ".sqlite", ".gz", ".zst", ".bz2", ".xz", ".orc",
)


def looks_like_a_path(name: str) -> bool:
    """A table name that DuckDB would read as a file or URL (a "replacement scan")."""
    lowered = name.lower()
    return (any(mark in name for mark in ("/", "\\", "*", "?", "~")) or "://" in name or re.match(r"^[a-z]:", lowered)
            is not None or lowered.endswith(_FILE_SUFFIXES))
