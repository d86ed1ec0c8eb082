"""A ClickHouse-HTTP-compatible TEST FIXTURE over embedded chdb. Not a product, not a ClickHouse server.

A real ClickHouse server cannot run on this machine (Debian's clickhouse-server is too old for clickhouse-connect), so
this small server stands in for one until it can: it speaks the subset of ClickHouse's HTTP interface that
clickhouse-connect's HTTP client uses and runs every statement in chdb. That lets the tests exercise the HTTP code path
(server mode) for real: /ping, the query in the URL and/or the body, database/query_id/session_id/settings/param_*
parameters, Native and other output formats (streamed block by block), X-ClickHouse-* headers, INSERT bodies,
compression both ways, ClickHouse's exception text and HTTP statuses, and KILL QUERY WHERE query_id = '...'.

Run it with `make clickhouse-test-server` or
`python -m tests.support.clickhouse_test_server [--port N] [--path DIR] [--host 127.0.0.1] [--password P]`
(defaults from CH_TEST_PORT=18123, CH_TEST_PATH, CH_TEST_PASSWORD). Credentials are accepted (and checked only when a
password is configured); they never appear in the log.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import ssl
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from ._ch_engine import Engine, Query, Result
from ._ch_wire import (
    KILL_BY_ID,
    STREAMABLE_FORMATS,
    TRANSPORT_PARAMS,
    ClickHouseError,
    Encoder,
    decode_body,
    exception_block,
    http_status,
    pick_encoding,
    quote,
    result_kind,
    split_format,
    split_insert,
    strip_on_cluster,
)

DEFAULT_PORT = 18123
_HEAD_BYTES = 1 << 16  # an INSERT statement heading a data body is looked for in this many bytes


class ClickHouseTestServer(ThreadingHTTPServer):
    """One thread per connection (clients keep connections alive in a pool), so requests run concurrently."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], engine: Engine, password: str | None = None):
        super().__init__(address, _Handler)
        self.engine = engine
        self.password = password
        self.display_name = socket.gethostname()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response has a Content-Length or is chunked
    server: ClickHouseTestServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._started = time.monotonic()
        self._query_id = ""
        self._status = 200
        body = self._body_chunks()
        try:
            self._dispatch(body)
        finally:
            for _ in body:  # an unread body would be taken for the next request on this connection
                pass
            self._log()

    do_POST = do_GET

    def _dispatch(self, body: Iterator[bytes]) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path == "/ping" or (url.path == "/" and self.command == "GET" and "query" not in params):
            self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        if url.path != "/":
            self._send(404, b"There is no handle " + url.path.encode() + b"\n", {"Content-Type": "text/plain"})
            return
        self._query_id = params.get("query_id") or str(uuid.uuid4())
        try:
            self._authenticate(params)
            chunks = decode_body(body, self.headers.get("Content-Encoding", ""))
            self._execute(params, chunks)
        except ClickHouseError as err:
            self._send_error(err)
        except ValueError as err:  # a body that does not decompress
            self._send_error(self.server.engine.error(36, str(err)))

    def _authenticate(self, params: dict[str, str]) -> None:
        expected = self.server.password
        if expected is None:
            return
        given = params.get("password") or self.headers.get("X-ClickHouse-Key")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            given = base64.b64decode(auth[6:]).decode().partition(":")[2]
        if given != expected:
            raise self.server.engine.error(
                516, "default: Authentication failed: password is incorrect, or there is no user with such name")

    def _execute(self, params: dict[str, str], chunks: Iterator[bytes]) -> None:
        engine = self.server.engine
        head = bytearray()
        for chunk in chunks:
            head += chunk
            if len(head) >= _HEAD_BYTES:
                break
        prefix = params.get("query", "").rstrip().encode()
        text = prefix + b"\n" + head if prefix and head else prefix or bytes(head)
        query = Query(
            sql="", fmt=params.get("default_format") or "TabSeparated", query_id=self._query_id,
            database=params.get("database") or None,
            settings={k: v for k, v in params.items() if k not in TRANSPORT_PARAMS and not k.startswith("param_")},
            params={k[6:]: v for k, v in params.items() if k.startswith("param_")},
            session_id=params.get("session_id") or None,
            session_timeout=float(params.get("session_timeout") or 60),
            session_check=params.get("session_check") == "1",
        )
        insert = split_insert(bytes(text[:_HEAD_BYTES]))
        if insert is not None:
            self._insert(query, insert, text[insert.data_offset:], chunks, params)
            return
        sql = (text + b"".join(chunks)).decode()
        if not sql.strip():
            raise engine.error(62, "Empty query")
        query.sql, fmt = split_format(sql, engine.formats)
        query.fmt = fmt or query.fmt
        kill = KILL_BY_ID.match(query.sql)
        if kill:
            self._kill(query, kill.group(1), (kill.group(2) or "ASYNC").upper(), params)
            return
        query.sql = strip_on_cluster(query.sql)
        kind = result_kind(query.sql)
        if kind in ("SELECT", "WITH") and query.fmt in STREAMABLE_FORMATS and params.get("wait_end_of_query") != "1":
            self._stream(query, params)
        else:
            result = engine.run(query)
            if not result.body and query.fmt == "Native" and kind in ("SELECT", "WITH"):
                result.body = engine.native_header(query)
            self._reply(result, query.fmt if kind else None, params)

    def _insert(self, query: Query, insert, data: bytes, rest: Iterator[bytes], params: dict[str, str]) -> None:
        """Spool the data to a file and load it with FROM INFILE, as clickhouse-connect's own chdb backend does."""
        with tempfile.NamedTemporaryFile(prefix="ch-test-insert-", suffix=".data") as spool:
            spool.write(data)
            for chunk in rest:
                spool.write(chunk)
            spool.flush()
            query.sql = (f"INSERT INTO {insert.target} FROM INFILE {quote(spool.name)} {insert.settings} "
                         f"FORMAT {insert.fmt}")
            self._reply(self.server.engine.run(query), None, params)

    def _kill(self, query: Query, target: str, mode: str, params: dict[str, str]) -> None:
        """Answer like ClickHouse: one row per killed query (kill_status, query_id, user, query)."""
        killed = self.server.engine.kill(target.replace("\\'", "'").replace("\\\\", "\\"), mode)
        status = "finished" if mode == "SYNC" else "waiting"
        rows = ", ".join(f"({quote(status)}, {quote(r.query_id)}, 'default', {quote(r.text)})" for r in killed)
        columns = "'kill_status String, query_id String, user String, query String'"
        query.sql = f"SELECT * FROM values({columns}, {rows})" if rows else (
            "SELECT '' AS kill_status, '' AS query_id, '' AS user, '' AS query WHERE 0")
        query.settings = {}
        query.query_id = f"{query.query_id}:kill"  # its own id: the KILL may target this very id's siblings
        self._reply(self.server.engine.run(query), query.fmt, params)

    # --- responses ------------------------------------------------------------------------------------------------

    def _encoder(self, params: dict[str, str]) -> Encoder | None:
        if params.get("enable_http_compression") != "1":
            return None
        encoding = pick_encoding(self.headers.get("Accept-Encoding", ""))
        return Encoder(encoding) if encoding else None

    def _common_headers(self, fmt: str | None, summary: dict[str, str] | None) -> dict[str, str]:
        engine = self.server.engine
        headers = {
            "X-ClickHouse-Query-Id": self._query_id,
            "X-ClickHouse-Timezone": engine.timezone,
            "X-ClickHouse-Server-Display-Name": self.server.display_name,
            "Content-Type": "text/tab-separated-values; charset=UTF-8" if (fmt or "").startswith("Tab")
            else "application/octet-stream",
        }
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
        zero = dict.fromkeys(("read_rows", "read_bytes", "written_rows", "written_bytes", "total_rows_to_read",
                              "result_rows", "result_bytes", "elapsed_ns"), "0")
        headers["X-ClickHouse-Summary"] = json.dumps(summary or zero, separators=(",", ":"))
        return headers

    def _reply(self, result: Result, fmt: str | None, params: dict[str, str]) -> None:
        headers = self._common_headers(fmt, result.summary)
        body = result.body
        encoder = self._encoder(params)
        if encoder is not None:
            body = encoder.compress(body) + encoder.finish()
            headers["Content-Encoding"] = encoder.encoding
        self._send(200, body, headers)

    def _stream(self, query: Query, params: dict[str, str]) -> None:
        """Native (and other block-safe formats) block by block, chunked: a client that stops reading pauses the
        query (the socket write blocks), and one that goes away cancels it."""
        blocks = self.server.engine.stream(query)
        try:
            first = next(blocks, None)  # an error before any output is a plain HTTP error
        except ClickHouseError:
            blocks.close()
            raise
        if first is None and query.fmt == "Native":
            first = self.server.engine.native_header(query) or None
        tag = uuid.uuid4().hex[:16]
        headers = self._common_headers(query.fmt, None)
        headers["X-ClickHouse-Exception-Tag"] = tag
        headers["Transfer-Encoding"] = "chunked"
        encoder = self._encoder(params)
        if encoder is not None:
            headers["Content-Encoding"] = encoder.encoding
        self._start(200, headers)
        try:
            block = first
            try:
                while block is not None:
                    self._chunk(encoder.compress(block) if encoder else block)
                    block = next(blocks, None)
            except ClickHouseError as err:
                # The status line is gone: signal the failure in the stream, the way a 25.11+ server does.
                self._status = http_status(err.code, self.server.engine.error_names)
                marker = exception_block(err.text, tag)
                self._chunk(encoder.compress(marker) if encoder else marker)
            if encoder is not None:
                self._chunk(encoder.finish())
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away: closing the generator cancels the query
            self.close_connection = True
        finally:
            blocks.close()

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _send_error(self, err: ClickHouseError) -> None:
        headers = self._common_headers(None, None)
        headers["Content-Type"] = "text/plain; charset=UTF-8"
        headers["X-ClickHouse-Exception-Code"] = str(err.code)
        self._send(http_status(err.code, self.server.engine.error_names), (err.text + "\n").encode(), headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self._start(status, {**headers, "Content-Length": str(len(body))})
        self.wfile.write(body)

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self._status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Keep-Alive", "timeout=30")
        self.end_headers()

    # --- request body and logging ---------------------------------------------------------------------------------

    def _body_chunks(self) -> Iterator[bytes]:
        """The raw request body, with or without chunked transfer encoding (streamed inserts are chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per request is written by _log, without the URL's parameters (they may hold a password)

    def _log(self) -> None:
        elapsed = time.monotonic() - self._started
        path = urlsplit(self.path).path
        sys.stderr.write(f"{self.command} {path} {self._status} query_id={self._query_id or '-'} {elapsed:.3f}s\n")


def serve(host: str, port: int, path: Path, password: str | None = None,
          tls: tuple[Path, Path] | None = None) -> None:
    """Serve until SIGTERM or Ctrl+C, then close chdb cleanly; HTTPS with ``tls`` = (certificate, key) files."""
    path.mkdir(parents=True, exist_ok=True)
    engine = Engine(str(path))
    server = ClickHouseTestServer((host, port), engine, password)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    sys.stderr.write(f"ClickHouse test server (chdb {engine.version}) on {scheme}://{host}:{server.server_port} "
                     f"data={path}\n")
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        engine.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ClickHouse-HTTP-compatible test server over chdb (a test fixture)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CH_TEST_PORT") or DEFAULT_PORT))
    parser.add_argument("--path", type=Path, default=Path(
        os.environ.get("CH_TEST_PATH") or Path(tempfile.gettempdir()) / "bqlite-ch-test-server"))
    parser.add_argument("--password", default=os.environ.get("CH_TEST_PASSWORD") or None)
    parser.add_argument("--certfile", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--keyfile", type=Path, help="the certificate's private key (PEM)")
    args = parser.parse_args(argv)
    if bool(args.certfile) != bool(args.keyfile):
        parser.error("--certfile and --keyfile go together")
    serve(args.host, args.port, args.path, args.password,
          (args.certfile, args.keyfile) if args.certfile else None)


if __name__ == "__main__":
    main()
