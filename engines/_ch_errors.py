"""ClickHouse errors -> engine errors, translated once at the adapter edge.

Positions are made relative to the caller's SQL: we send it behind a tag comment or an EXPLAIN prefix, and
ClickHouse counts bytes from the start of what it received.
"""

from __future__ import annotations

import re

from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from engines._common import RunningQuery, byte_to_char_position, position_of_name
from engines.errors import EngineError, EngineQueryError, EngineUnavailable, QueryCancelled, QueryTimeout

_CANCELLED, _TIMEOUT, _MEMORY = {394}, {159}, {241, 173}     # QUERY_WAS_CANCELLED, TIMEOUT_EXCEEDED, memory
_NAMED = [r"identifier [`'](.+?)[`']", r"Function with name [`'](.+?)[`']", r"Database (\S+) does not exist",
          r"Table (\S+) does not exist"]


def translate(exc: ClickHouseError, text: str, shift: int, run: RunningQuery | None = None) -> EngineError:
    """The one place clickhouse-connect exceptions become engine errors; positions are made relative to the
    caller's SQL (``text`` minus its first ``shift`` characters)."""
    code = getattr(exc, "code", None)
    if run is not None and (run.timed_out or code in _TIMEOUT):
        return QueryTimeout(run.timeout_s or 0)
    if code in _CANCELLED or (run is not None and run.cancelled):
        return QueryCancelled("Query was cancelled")
    message = clean(str(exc))
    if code in _MEMORY:
        return EngineQueryError(f"Query exceeded the memory limit: {message}")
    if code is None and isinstance(exc, OperationalError):
        return EngineUnavailable(f"ClickHouse is unreachable: {unreachable_reason(message)}")
    position = _position(str(exc), text, shift)
    return EngineQueryError(_relative(message, position, shift), position=position)


def unreachable_reason(message: str) -> str:
    """What went wrong with the connection, in a few words. The driver's own text quotes the request URL with its
    query string (settings, the SQL's parameters), which is noise at best and private at worst."""
    server = re.search(r"https?://([^/?\s)]+)", message)
    where = f" ({server.group(1)})" if server else ""
    errno = re.search(r"\[Errno -?\d+\] ([^\"')\]]+)", message)
    if errno:
        return errno.group(1).strip() + where
    for needle, reason in (("timed out", "timed out"), ("RemoteDisconnected", "the server closed the connection"),
                           ("Connection aborted", "the server closed the connection")):
        if needle in message:
            return reason + where
    return re.sub(r"\?\S*", "", message)[:200].strip()


def clean(message: str) -> str:
    message = re.sub(r"^.*?Code: \d+\. DB::Exception: ", "", message, flags=re.DOTALL)
    message = re.sub(r"\n SETTINGS [^\n]*|\n FORMAT Native|/\* bqlite:\S* \*/ ", "", message)
    # ClickHouse lists every token it would accept; the first few say enough.
    message = re.sub(r"(Expected one of: (?:[^,]+, ){8})[^(]*", r"\1... ", message)
    return message.strip()


def _relative(message: str, position: int | None, shift: int) -> str:
    """Rewrite "failed at position N (line 1, col C)" for the SQL the caller wrote, not the one we sent."""
    if not shift or position is None:
        return message
    message = re.sub(r"failed at position \d+", f"failed at position {position}", message)
    return re.sub(r"\(line 1, col (\d+)\)", lambda m: f"(line 1, col {int(m.group(1)) - shift})", message)


def _position(message: str, text: str, shift: int) -> int | None:
    failed = re.search(r"failed at position (\d+)", message)
    if failed and text:
        position = byte_to_char_position(text, int(failed.group(1))) - shift
        return position if position >= 1 else None
    for pattern in _NAMED:
        named = re.search(pattern, message)
        if named and text:
            return position_of_name(text[shift:], named.group(1))
    return None
