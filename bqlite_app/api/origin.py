"""Cross-site request protection: a page on another origin may not change anything (docs/api.md, "Cross-site requests").

CORS alone does not do it: a form POST or a ``fetch`` with a "simple" content type reaches the route without a
preflight, and CORS only hides the answer from the page after the harm is done. Browsers send ``Origin`` on every
such request, so a state-changing request whose ``Origin`` is present and foreign is refused before any route runs.
Requests without ``Origin`` (curl, the CLI, scripts) are not cross-site and pass.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from bqlite_app.api.errors import envelope
from bqlite_app.errors import OriginNotAllowed

# Methods that only read. Everything else (POST, PUT, PATCH, DELETE and anything unknown) may change state.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


class OriginCheckMiddleware:
    """Refuse state-changing HTTP requests and websocket handshakes whose ``Origin`` is not allowed.

    Pure ASGI: nothing is buffered, and the refusal is the API's error envelope (403 ``ORIGIN_NOT_ALLOWED``).
    The websocket check repeats python-socketio's own, so the UI's socket stays closed to foreign pages even if
    Reflex's configuration changes.
    """

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(normalize_origin(origin) for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] not in SAFE_METHODS) or scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            if origin is not None and not self.is_allowed(origin):
                await _refuse(scope, receive, send, origin)
                return
        await self.app(scope, receive, send)

    def is_allowed(self, origin: str) -> bool:
        # "null" (sandboxed iframes, file:// pages, some redirects) is never in the list: it names no one.
        return normalize_origin(origin) in self.allowed


def normalize_origin(origin: str) -> str:
    """``HTTP://Example.com:80/`` and ``http://example.com`` are one origin, as browsers serialize it."""
    text = origin.strip().rstrip("/").lower()
    scheme = text.partition("://")[0]
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port and text.endswith(default_port):
        text = text.removesuffix(default_port)
    return text


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, origin: str) -> None:
    error = OriginNotAllowed(f"Requests from origin {origin[:200]!r} may not change anything here; allowed origins "
                             "are the app's own and BQLITE_CORS_ORIGINS")
    if scope["type"] == "websocket":
        # Closing before accepting makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 1008, "reason": error.error_code})
        return
    await envelope(error.status, error.detail, error.error_code)(scope, receive, send)
