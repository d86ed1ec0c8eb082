"""The gRPC service ``google.cloud.bigquery.storage.v1.BigQueryRead``: CreateReadSession, ReadRows (Arrow) and
SplitReadStream, served with google-cloud-bigquery-storage's own message types.

Callers authenticate with gRPC metadata ``authorization: Bearer <token>`` (our JWT or API token, as on the REST
API); with auth off everyone is the local admin. Errors are gRPC status codes. No handler ever answers UNKNOWN or
UNAVAILABLE for a mistake: the client's ReadRows reader reconnects on those, forever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, NoReturn

import grpc
from google.cloud.bigquery_storage_v1 import types
from google.protobuf import timestamp_pb2

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery.storage.reads import Session, StorageReads
from bqlite_app.bigquery.storage.wire import read_rows_response
from bqlite_app.errors import AccessDenied, BqliteError, QuotaExceeded, ValidationFailed

if TYPE_CHECKING:
    from bqlite_app.core import Core

log = logging.getLogger(__name__)

SERVICE = "google.cloud.bigquery.storage.v1.BigQueryRead"
# Without a client deadline, a table read (a job) may take the query time limit; a little more for the queue.
_DEFAULT_WAIT_S = 600.0
_WORKERS = 16

_CODES = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED,
          404: grpc.StatusCode.NOT_FOUND, 410: grpc.StatusCode.NOT_FOUND, 409: grpc.StatusCode.FAILED_PRECONDITION,
          400: grpc.StatusCode.INVALID_ARGUMENT, 413: grpc.StatusCode.INVALID_ARGUMENT,
          422: grpc.StatusCode.INVALID_ARGUMENT, 429: grpc.StatusCode.RESOURCE_EXHAUSTED,
          503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED}


class StorageReadServer:
    """BigQuery's Storage Read API on ``host:port`` over ``core``. ``port=0`` picks a free port (see ``port``)."""

    def __init__(self, core: Core, host: str, port: int) -> None:
        self._core = core
        self._host = host
        self._requested_port = port
        self._reads = StorageReads(core)
        self._server: grpc.Server | None = None
        self.port: int | None = None

    def start(self) -> None:
        server = grpc.server(
            ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="bqlite-storage"),
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", 4 * 1024 * 1024),
                     ("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=_WORKERS * 4,
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {
            "CreateReadSession": grpc.unary_unary_rpc_method_handler(
                self._create_read_session, request_deserializer=types.CreateReadSessionRequest.deserialize,
                response_serializer=types.ReadSession.serialize),
            "ReadRows": grpc.unary_stream_rpc_method_handler(
                self._read_rows, request_deserializer=types.ReadRowsRequest.deserialize,
                response_serializer=_already_serialized),
            "SplitReadStream": grpc.unary_unary_rpc_method_handler(
                self._split_read_stream, request_deserializer=types.SplitReadStreamRequest.deserialize,
                response_serializer=types.SplitReadStreamResponse.serialize),
        }),))
        address = f"[{self._host}]:{self._requested_port}" if ":" in self._host else \
            f"{self._host}:{self._requested_port}"
        try:
            self.port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise RuntimeError(f"The BigQuery Storage Read API cannot listen on {address} (BQLITE_STORAGE_PORT; "
                               f"0 turns it off): {exc}") from exc
        server.start()
        self._server = server
        log.info("BigQuery Storage Read API listening", extra={"address": f"{self._host}:{self.port}"})

    def stop(self, grace_s: float = 2.0) -> None:
        if self._server is not None:
            self._server.stop(grace_s).wait()
            self._server = None

    # -- handlers ------------------------------------------------------------------------------------------------

    def _create_read_session(self, request: types.CreateReadSessionRequest,
                             context: grpc.ServicerContext) -> types.ReadSession:
        with _Answering(context, "CreateReadSession"):
            user = self._user(context)
            self._core.limiter.hit_rate(user, "queries")
            wanted = request.read_session
            if wanted.data_format not in (types.DataFormat.ARROW, types.DataFormat.DATA_FORMAT_UNSPECIFIED):
                raise ValidationFailed("read_session.data_format: only ARROW is served (pass DataFormat.ARROW)")
            options = wanted.read_options
            session = self._reads.create_session(
                user, parent=request.parent, table=wanted.table, selected_fields=list(options.selected_fields),
                row_restriction=options.row_restriction, max_streams=request.max_stream_count,
                timeout_s=context.time_remaining() or _DEFAULT_WAIT_S)
            return _session_message(session, wanted)

    def _read_rows(self, request: types.ReadRowsRequest, context: grpc.ServicerContext) -> Iterator[bytes]:
        with _Answering(context, "ReadRows"):
            user = self._user(context)
            stream = self._reads.stream(user, request.read_stream)
            schema: bytes | None = stream.schema.serialize().to_pybytes()
            total = max(1, stream.end - stream.start)
            done = request.offset
            for batch in self._reads.read(stream, request.offset):
                rows = batch.num_rows
                # The client's reader takes the schema from the first message of each ReadRows call.
                yield read_rows_response(batch.serialize(), rows, schema=schema,
                                         progress=(done / total, (done + rows) / total))
                schema = None
                done += rows

    def _split_read_stream(self, request: types.SplitReadStreamRequest,
                           context: grpc.ServicerContext) -> types.SplitReadStreamResponse:
        with _Answering(context, "SplitReadStream"):
            user = self._user(context)
            primary, remainder = self._reads.split(user, request.name, request.fraction)
            answer = types.SplitReadStreamResponse()
            if primary is not None and remainder is not None:
                answer.primary_stream = types.ReadStream(name=primary)
                answer.remainder_stream = types.ReadStream(name=remainder)
            return answer

    # -- identity ------------------------------------------------------------------------------------------------

    def _user(self, context: grpc.ServicerContext) -> Principal:
        token = None
        for key, value in context.invocation_metadata():
            if key == "authorization" and isinstance(value, str):
                scheme, _, credential = value.partition(" ")
                if scheme.lower() == "bearer" and credential.strip():
                    token = credential.strip()
        return self._core.identity.authenticate(token, _peer_ip(context.peer()))


def _already_serialized(message: bytes) -> bytes:
    return message   # ReadRows answers wire bytes (see ``wire``)


def _session_message(session: Session, wanted: types.ReadSession) -> types.ReadSession:
    expire = timestamp_pb2.Timestamp()
    expire.FromSeconds(int(session.expires_at))
    message = types.ReadSession(
        name=session.name, expire_time=expire, data_format=types.DataFormat.ARROW,
        arrow_schema=types.ArrowSchema(serialized_schema=session.schema.serialize().to_pybytes()),
        table=session.table, read_options=wanted.read_options,
        streams=[types.ReadStream(name=name) for name in session.stream_names()],
        estimated_total_bytes_scanned=session.stored_bytes, estimated_total_physical_file_size=session.stored_bytes,
        estimated_row_count=session.rows,
    )
    return message


class _Answering:
    """The one error path of every handler, the streaming ReadRows included: what the body raises aborts the call
    with the status it maps to (``_code``), anything unforeseen INTERNAL and logged, never UNKNOWN (see the module
    docstring). The abort happens in ``__exit__``, outside the body, because grpc's abort raises a plain Exception
    the body would otherwise see. GeneratorExit (a client leaving a stream) is not an Exception and passes through."""

    def __init__(self, context: grpc.ServicerContext, method: str) -> None:
        self._context = context
        self._method = method

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if not isinstance(error, Exception):
            return
        if isinstance(error, BqliteError):
            code, message = _code(error), error.detail
        else:
            log.error("BigQuery Storage Read API %s failed", self._method, exc_info=error)
            code, message = grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}"
        _abort(self._context, code, message)


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")


def _code(exc: BqliteError) -> grpc.StatusCode:
    if isinstance(exc, QuotaExceeded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, AccessDenied):
        return grpc.StatusCode.PERMISSION_DENIED
    return _CODES.get(exc.status, grpc.StatusCode.INTERNAL)


def _peer_ip(peer: str) -> str | None:
    """``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` -> the address."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return None

