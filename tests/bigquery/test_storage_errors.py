"""The Storage Read API's one error path (``storage.server._Answering``), unary and streaming alike: a BigQuery-Lite
error becomes its gRPC status, anything else INTERNAL (never UNKNOWN, which the client's reader retries forever),
and a client leaving a stream is not an error."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from bqlite_app.bigquery.storage.server import _Answering
from bqlite_app.errors import JobNotFound, QuotaExceeded


class Aborted(Exception):
    """What grpc's ``context.abort`` raises: a plain Exception."""


class FakeContext:
    def __init__(self) -> None:
        self.aborts: list[tuple[grpc.StatusCode, str]] = []

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborts.append((code, details))
        raise Aborted(details)


def unary(context: FakeContext, error: Exception | None) -> str:
    with _Answering(context, "Unary"):  # type: ignore[arg-type]
        if error is not None:
            raise error
        return "answer"


def streamed(context: FakeContext, error: Exception) -> Iterator[int]:
    with _Answering(context, "Streamed"):  # type: ignore[arg-type]
        yield 1
        raise error


@pytest.mark.parametrize(("error", "code"), [
    (JobNotFound("no such job"), grpc.StatusCode.NOT_FOUND),
    (QuotaExceeded("slow down"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (RuntimeError("boom"), grpc.StatusCode.INTERNAL),
])
def test_unary_and_streaming_errors_abort_with_the_same_status(error: Exception, code: grpc.StatusCode) -> None:
    context = FakeContext()
    with pytest.raises(Aborted):
        unary(context, error)
    stream = streamed(context, error)
    assert next(stream) == 1
    with pytest.raises(Aborted):
        next(stream)
    assert [c for c, _ in context.aborts] == [code, code]
    assert context.aborts[0] == context.aborts[1]


def test_an_unforeseen_error_names_only_its_type() -> None:
    context = FakeContext()
    with pytest.raises(Aborted):
        unary(context, RuntimeError("secret detail"))
    assert context.aborts == [(grpc.StatusCode.INTERNAL, "internal error: RuntimeError")]


def test_success_and_a_closed_stream_do_not_abort() -> None:
    context = FakeContext()
    assert unary(context, None) == "answer"
    stream = streamed(context, RuntimeError("never reached"))
    assert next(stream) == 1
    stream.close()    # the client went away: GeneratorExit passes through
    assert context.aborts == []
