"""Knock on the real Reflex backend (the app `make run` serves on :8000) from a few origins; print what answered.

Run in its own process by tests/api/test_origin.py: importing the Reflex app reads rxconfig and the environment once
per process, and builds its own core. Only the frontend compile is skipped (it needs bun and writes .web); the ASGI
stack, python-socketio's server and its CORS settings are Reflex's own. Nothing is started: no lifespan, no engines.

Usage: python -m tests.api.reflex_origin_probe ORIGIN... ; prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import warnings

from starlette.websockets import WebSocketDisconnect

EVENT_SOCKET = "/_event/?EIO=4&transport=websocket"


def main(origins: list[str]) -> dict[str, dict[str, object]]:
    import reflex.app

    reflex.app.App._compile = lambda self, *args, **kwargs: None  # type: ignore[method-assign]
    from bqlite_app.bqlite_app import app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's TestClient-over-httpx deprecation notice
        from starlette.testclient import TestClient

    client = TestClient(app(), raise_server_exceptions=False)
    return {origin: _knock(client, origin) for origin in origins}


def _knock(client, origin: str) -> dict[str, object]:
    headers = {"origin": origin, "upgrade": "websocket"}
    try:
        with client.websocket_connect(EVENT_SOCKET, headers=headers) as socket:
            opened = socket.receive_text()  # Engine.IO's "open" packet: the handshake went through
            websocket = "accepted" if opened.startswith("0") else f"odd first packet {opened[:40]!r}"
    except WebSocketDisconnect:
        websocket = "refused"
    polling = client.get("/_event/?EIO=4&transport=polling", headers={"origin": origin})
    upload = client.post("/_upload", headers={"origin": origin}, files={"files": ("a.txt", b"x")})
    return {"websocket": websocket, "polling": [polling.status_code, polling.text[:200]],
            "upload": [upload.status_code, _error_code(upload)]}


def _error_code(response) -> str | None:
    try:
        return response.json().get("error_code")
    except ValueError:
        return None


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
