"""DuckDB errors -> engine errors, translated once at the adapter edge, with the position the message points at."""

from __future__ import annotations

import re

import duckdb

from engines._common import RunningQuery, line_col_to_position, position_of_name
from engines.errors import EngineError, EngineQueryError, QueryCancelled, QueryTimeout

# Errors without a LINE marker still name what they could not find; point at it.
_NAMED = [
    r"Table with name (\S+?) does not exist", r'Referenced column "(.+?)" not found', r"column \"(.+?)\"",
    r"Function with name (\S+?) does not exist", r"Schema with name (\S+?) does not exist",
]


def translate(exc: Exception, sql: str, run: RunningQuery | None = None) -> EngineError:
    """The one place DuckDB exceptions become engine errors (mid-stream they arrive wrapped by the Arrow reader)."""
    text = str(exc)
    if isinstance(exc, duckdb.InterruptException) or text.startswith("INTERRUPT Error"):
        if run is not None and run.timed_out:
            return QueryTimeout(run.timeout_s or 0)
        return QueryCancelled("Query was cancelled")
    message = text.split("\n\nLINE ")[0].strip()
    if isinstance(exc, duckdb.OutOfMemoryException) or text.startswith("Out of Memory Error"):
        return EngineQueryError(f"Query exceeded the memory limit: {message.splitlines()[0]}")
    return EngineQueryError(message, position=_position(text, sql))


def _position(text: str, sql: str) -> int | None:
    """1-based offset from DuckDB's ``LINE n: <snippet>`` + caret, or from the name the error quotes."""
    marker = re.search(r"LINE (\d+): (.*)\n( *)\^", text)
    if marker and sql:
        line_no = int(marker.group(1))
        snippet = marker.group(2)
        column = len(marker.group(3)) - len(f"LINE {line_no}: ")
        lines = sql.split("\n")
        if 1 <= line_no <= len(lines) and snippet.startswith("..."):
            # DuckDB trims long lines around the error; find the shown part in the real line.
            body = snippet[3:].removesuffix("...")
            found = lines[line_no - 1].find(body)
            column = found + column - 3 if found >= 0 else column
        return line_col_to_position(sql, line_no, column + 1)
    for pattern in _NAMED:
        named = re.search(pattern, text)
        if named and sql:
            return position_of_name(sql, named.group(1))
    return None
