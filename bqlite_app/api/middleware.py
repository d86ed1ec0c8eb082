"""Request ids, access logs, HTTP metrics, and the last-resort 500 handler (pure ASGI: no body buffering)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bqlite_app.api.errors import envelope
from bqlite_app.logs import request_id_var
from bqlite_app.metrics import Metrics

log = logging.getLogger("bqlite_app.api")

REQUEST_ID_HEADER = "x-request-id"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex[:16]
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Never leak a stack trace: log it with the request id and hand the id to the client.
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if response_started:
                raise
            status = 500
            response = envelope(500, f"Internal server error (request id {request_id})", "INTERNAL_ERROR",
                                request_id=request_id)
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.http_requests.labels(method=scope.get("method", ""), route=route, status=str(status)).inc()
            self.metrics.http_duration.labels(route=route).observe(elapsed)
            log.debug("%s %s -> %d in %.1f ms", scope.get("method"), scope.get("path"), status, elapsed * 1000)
            request_id_var.reset(token)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")[:64]
            return text if text.replace("-", "").isalnum() else None
    return None


def _route_template(scope: dict[str, Any]) -> str:
    # The template ("/jobs/{job_id}"), not the raw path: label cardinality must stay bounded.
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
