"""Pure helpers of the ClickHouse test server: statement text, exception text and HTTP (de)compression.

Nothing here touches chdb or sockets, so each piece can be read (and tested) on its own.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import lz4.frame
from backports import zstd

# Parameters that shape the HTTP exchange rather than the query: never passed to chdb as settings.
TRANSPORT_PARAMS = frozenset({
    "query", "database", "query_id", "session_id", "session_timeout", "session_check", "default_format",
    "compress", "decompress", "wait_end_of_query", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
    "enable_http_compression", "http_zlib_compression_level", "buffer_size", "quota_key", "client_protocol_version",
    "user", "password", "role", "http_response_buffer_size", "http_wait_end_of_query", "add_http_cors_header",
})

# The formats chdb can emit block by block, each chunk a valid continuation of the previous ones. The others have a
# global header or footer (Arrow, JSON, *WithNames...) and are produced in one piece.
STREAMABLE_FORMATS = frozenset({"Native", "TabSeparated", "TSV", "CSV", "RowBinary", "JSONEachRow"})

_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
# An INSERT whose data follows the statement: `INSERT INTO t [(cols)] [SETTINGS ...] FORMAT X` + data.
# Comments may lead any statement (the app tags its queries with one).
LEADING_COMMENTS = r"\A\s*(?:(?:/\*.*?\*/|--[^\n]*\n)\s*)*"
_INSERT_HEAD = re.compile(LEADING_COMMENTS.encode() + rb"INSERT\s+INTO\s+(.*?)\bFORMAT\s+(\w+)[ \t]*(?:\r?\n)?",
                          re.IGNORECASE | re.DOTALL)
_INLINE_DATA = re.compile(rb"\b(VALUES|SELECT|WITH|INFILE)\b", re.IGNORECASE)
# Quoted names and string literals, which may hold any keyword (a column named `select`).
_QUOTED = re.compile(rb"`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'", re.DOTALL)
_SETTINGS_KW = re.compile(r"\bSETTINGS\b", re.IGNORECASE)
KILL_BY_ID = re.compile(
    r"\A\s*KILL\s+QUERY\s+(?:ON\s+CLUSTER\s+\S+\s+)?WHERE\s+query_id\s*=\s*'((?:[^'\\]|\\.)*)'"
    r"\s*(SYNC|ASYNC|TEST)?\s*;?\s*\Z", re.IGNORECASE)
_KILL_ON_CLUSTER = re.compile(r"\A(\s*KILL\s+QUERY\s+)ON\s+CLUSTER\s+\S+\s+", re.IGNORECASE)
_RESULT_STATEMENT = re.compile(
    LEADING_COMMENTS + r"\(*\s*(SELECT|WITH|SHOW|DESC|DESCRIBE|EXPLAIN|EXISTS|KILL|CHECK|VALUES)\b",
    re.IGNORECASE | re.DOTALL)
_SET_STATEMENT = re.compile(LEADING_COMMENTS + r"SET\s", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class InsertHead:
    """The statement part of an INSERT with a data body; `data` is what follows `FORMAT X` and one newline."""

    target: str  # `t [(cols)]`, without any SETTINGS clause
    settings: str  # `SETTINGS a = 1` or ""
    fmt: str
    data_offset: int


def split_insert(head: bytes) -> InsertHead | None:
    """Recognise `INSERT INTO ... FORMAT X` at the start of a request; None for any other statement."""
    match = _INSERT_HEAD.match(head)
    if not match or _INLINE_DATA.search(_QUOTED.sub(b"``", match.group(1))):
        return None
    target = match.group(1).decode()
    settings = ""
    found = _SETTINGS_KW.search(target)
    if found:
        target, settings = target[: found.start()], target[found.start():]
    return InsertHead(target.strip(), settings.strip(), match.group(2).decode(), match.end())


def split_format(sql: str, known_formats: frozenset[str]) -> tuple[str, str | None]:
    """Strip a trailing `FORMAT X` (only a real output format, so `ORDER BY format DESC` stays)."""
    match = _TRAILING_FORMAT.search(sql)
    if not match or match.group(1).lower() not in known_formats:
        return sql, None
    return sql[: match.start()], match.group(1)


def with_marker(sql: str, marker: str) -> str:
    """Append the server's marker after the client's text, so system.processes.query still starts with the client's
    own text (the app finds its queries by their leading comment). A newline ends any trailing `--` comment."""
    return f"{sql.rstrip().rstrip(';')}\n{marker}"


def strip_on_cluster(sql: str) -> str:
    """chdb has no clusters: a KILL ... ON CLUSTER runs on this one node."""
    return _KILL_ON_CLUSTER.sub(r"\1", sql, count=1)


def result_kind(sql: str) -> str | None:
    """The leading keyword of a statement that returns rows (ClickHouse then announces X-ClickHouse-Format), else
    None. Only SELECT and WITH are streamed: chdb refuses to stream the others (KILL, SHOW...)."""
    match = _RESULT_STATEMENT.match(sql)
    return match.group(1).upper() if match else None


def is_set_statement(sql: str) -> bool:
    return bool(_SET_STATEMENT.match(sql))


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- errors -------------------------------------------------------------------------------------------------------

_CODE = re.compile(r"Code: (\d+)\.")
# From ClickHouse's src/Server/HTTP/exceptionCodeToHTTPStatus.cpp, by error name (the codes come from chdb at start).
_STATUS_BY_NAME = {
    **dict.fromkeys(("REQUIRED_PASSWORD",), 401),
    **dict.fromkeys(("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE",
                     "ACCESS_DENIED"), 403),
    **dict.fromkeys((
        "BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE",
        "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER",
        "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6",
        "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN",
        "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST", "TOO_BIG_AST",
        "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
        "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"), 400),
    **dict.fromkeys((
        "UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE", "UNKNOWN_STORAGE",
        "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION",
        "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE"), 404),
    "QUERY_IS_TOO_LARGE": 413, "NOT_IMPLEMENTED": 501, "SOCKET_TIMEOUT": 503, "CANNOT_OPEN_FILE": 503,
    "HTTP_LENGTH_REQUIRED": 411, "TIMEOUT_EXCEEDED": 408, "CANNOT_SCHEDULE_TASK": 503, "UNSUPPORTED_MEDIA_TYPE": 415,
}


class ClickHouseError(Exception):
    """An error as the server reports it: `Code: N. DB::Exception: ... (NAME) (version V)`."""

    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code = code
        self.text = text


def error_from_message(message: str, version: str) -> ClickHouseError:
    """Wrap chdb's exception text, keeping its first `Code: N.` and adding the version suffix a server adds."""
    start = message.find("Code: ")
    text = (message[start:] if start >= 0 else message).strip()
    match = _CODE.search(text)
    code = int(match.group(1)) if match else 1002  # UNKNOWN_EXCEPTION
    if not match:
        text = f"Code: 1002. DB::Exception: {text}. (UNKNOWN_EXCEPTION)"
    if "(version " not in text:
        text = f"{text} (version {version})"
    return ClickHouseError(code, text)


def make_error(code: int, name: str, message: str, version: str) -> ClickHouseError:
    return ClickHouseError(code, f"Code: {code}. DB::Exception: {message}. ({name}) (version {version})")


def http_status(code: int, names: dict[int, str]) -> int:
    return _STATUS_BY_NAME.get(names.get(code, ""), 500)


def exception_block(text: str, tag: str) -> bytes:
    """The marker a 25.11+ server writes when a query fails after its response started; clickhouse-connect scans the
    stream for it (driver/buffer.py, transform.extract_exception_with_tag) and raises instead of returning rows."""
    message = text.encode()
    return b"__exception__\r\n%s\r\n%s\n%d %s\r\n__exception__\r\n" % (
        tag.encode(), message, len(message), tag.encode())


# --- compression --------------------------------------------------------------------------------------------------

RESPONSE_ENCODINGS = ("lz4", "zstd", "gzip", "deflate")


class Encoder:
    """Incremental response compression: one stream per response, flushed per chunk so the client decodes each block
    as it arrives (clickhouse-connect's lz4 and zstd readers expect one continuous frame)."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        if encoding == "lz4":
            self._lz4 = lz4.frame.LZ4FrameCompressor(auto_flush=True)  # emit each chunk now, not at frame end
            self._started = False
        elif encoding == "zstd":
            self._zstd = zstd.ZstdCompressor()
        else:
            self._zlib = zlib.compressobj(wbits=31 if encoding == "gzip" else 15)

    def compress(self, data: bytes) -> bytes:
        if self.encoding == "lz4":
            head = b"" if self._started else self._lz4.begin()
            self._started = True
            return head + self._lz4.compress(data)
        if self.encoding == "zstd":
            return self._zstd.compress(data, zstd.ZstdCompressor.FLUSH_BLOCK)
        return self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        if self.encoding == "lz4":
            head = b"" if self._started else self._lz4.begin()
            return head + self._lz4.flush()
        if self.encoding == "zstd":
            return self._zstd.flush()
        return self._zlib.flush()


def pick_encoding(accept: str) -> str | None:
    """The first encoding of the client's Accept-Encoding that this server produces (clients list preferred first)."""
    for item in accept.split(","):
        name = item.split(";")[0].strip().lower()
        if name in RESPONSE_ENCODINGS:
            return name
    return None


def decode_body(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """Decompress a request body. clickhouse-connect compresses each insert block separately, so lz4 and zstd bodies
    are a sequence of frames: start a new decompressor whenever one frame ends."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        yield from chunks
        return
    if encoding in ("gzip", "deflate"):
        # wbits 47 accepts both a gzip and a zlib header; gzip bodies may also hold several members.
        inflater = zlib.decompressobj(wbits=47)
        for chunk in chunks:
            while chunk:
                yield inflater.decompress(chunk)
                chunk = inflater.unused_data if inflater.eof else b""
                if inflater.eof:
                    inflater = zlib.decompressobj(wbits=47)
        return
    if encoding not in ("lz4", "zstd"):
        raise ValueError(f"Unsupported Content-Encoding {encoding!r}")

    def fresh():
        return lz4.frame.LZ4FrameDecompressor() if encoding == "lz4" else zstd.ZstdDecompressor()

    decoder = fresh()
    for chunk in chunks:
        while chunk:
            yield decoder.decompress(chunk)
            chunk = decoder.unused_data if decoder.eof else b""
            if decoder.eof:
                decoder = fresh()
