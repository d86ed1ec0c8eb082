"""A small stand-in for the identity routes of docs/api.md, for the CLI's own behaviour (its credentials file,
token precedence, exit codes, what it sends): canned answers in the contract's shapes, every request recorded.

The server's real logic (hashing, JWTs, grants, the audit chain) is tested with the server, not here.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

NOW = "2026-01-26T10:30:00+00:00"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any


@dataclass
class FakeApi:
    url: str = ""
    auth_off: bool = False
    passwords: dict[str, str] = field(default_factory=lambda: {"alice": "alice-password-1", "root": "root-password-1"})
    roles: dict[str, str] = field(default_factory=lambda: {"alice": "member", "root": "admin"})
    tokens: dict[str, str] = field(default_factory=dict)  # token -> username
    chain_ok: bool = True
    requests: list[Request] = field(default_factory=list)
    issued: int = 0

    def last(self, path: str) -> Request:
        return [request for request in self.requests if request.path == path][-1]

    # -- routing ---------------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> tuple[int, dict[str, Any], dict[str, str]]:
        if request.method == "POST" and request.path == "/auth/token":
            return self._login(request.body)
        user = self._user(request.authorization)
        if user is None:
            return _error(401, "Not authenticated", "AUTH_REQUIRED", headers={"WWW-Authenticate": "Bearer"})
        role = self.roles.get(user, "admin")
        parts = request.path.strip("/").split("/")
        if request.path == "/auth/me":
            grants = [] if role == "admin" else [{"dataset": "default", "role": "reader"},
                                                 {"dataset": "sales", "role": "writer"}]
            return 200, {"username": user, "role": role, "grants": grants}, {}
        if request.path == "/auth/password":
            return 200, {"message": "Password changed"}, {}
        if request.path == "/auth/api-tokens":
            if request.method == "POST":
                return 200, {"id": 7, "name": request.body["name"], "token": "bql_s3cr3t-api-token",
                             "created_at": NOW, "expires_at": None if request.body["expires_in_days"] is None
                             else "2026-04-26T10:30:00+00:00"}, {}
            return 200, {"tokens": [{"id": 7, "name": "ci", "created_at": NOW, "expires_at": None}]}, {}
        if parts[:2] == ["auth", "api-tokens"] and request.method == "DELETE":
            return 200, {"message": f"Token {parts[2]} revoked"}, {}
        if parts[0] == "datasets" and role != "admin" and request.method != "GET":
            return _error(403, f"Access denied: you need the role owner on dataset '{unquote(parts[1])}'",
                          "ACCESS_DENIED")
        if parts[0] in ("users", "audit") and role != "admin":
            return _error(403, "Access denied: this needs the role admin", "ACCESS_DENIED")
        if request.path == "/users" and request.method == "GET":
            users = [{"username": name, "role": self.roles[name], "active": True, "created_at": NOW,
                      "last_login_at": None} for name in sorted(self.passwords)]
            return 200, {"users": users, "total": len(users)}, {}
        if request.path == "/users" and request.method == "POST":
            body = request.body
            return 201, {"username": body["username"], "role": body["role"], "active": True, "created_at": NOW,
                         "last_login_at": None}, {}
        if parts[0] == "users" and request.method == "PATCH":
            return 200, {"username": unquote(parts[1]), "role": request.body.get("role", "member"),
                         "active": request.body.get("active", True), "created_at": NOW, "last_login_at": None}, {}
        if parts[0] == "users" and request.method == "DELETE":
            return 200, {"message": "deleted"}, {}
        if parts[0] == "datasets" and len(parts) == 3:
            return 200, {"dataset": unquote(parts[1]), "grants": [{"username": "alice", "role": "reader"}]}, {}
        if parts[0] == "datasets" and len(parts) == 4:
            return 200, {"dataset": unquote(parts[1]), "username": unquote(parts[3]),
                         "role": (request.body or {}).get("role")}, {}
        if request.path == "/audit":
            events = [{"id": 2, "ts": NOW, "actor": "alice", "client_ip": "127.0.0.1", "action": "access.denied",
                       "target": "sales", "outcome": "denied", "detail": {"needs": "reader"}, "prev_hash": "a",
                       "hash": "b"},
                      {"id": 1, "ts": NOW, "actor": "root", "client_ip": "127.0.0.1", "action": "auth.login",
                       "target": "root", "outcome": "ok", "detail": {}, "prev_hash": "", "hash": "a"}]
            return 200, {"events": events, "total": 2}, {}
        if request.path == "/audit/verify":
            return 200, {"ok": self.chain_ok, "events": 2, "first_bad_id": None if self.chain_ok else 2}, {}
        return _error(404, "Not Found", "NOT_FOUND")

    def _login(self, form: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if form.get("username") == "locked":
            return _error(429, "Too many failed sign-ins", "RATE_LIMITED", headers={"Retry-After": "30"})
        if self.passwords.get(form.get("username", "")) != form.get("password"):
            return _error(401, "Incorrect username or password", "AUTH_REQUIRED",
                          headers={"WWW-Authenticate": "Bearer"})
        self.issued += 1
        token = f"jwt.{form['username']}.{self.issued}"
        self.tokens[token] = form["username"]
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": 43200}, {}

    def _user(self, authorization: str | None) -> str | None:
        if authorization and authorization.startswith("Bearer "):
            return self.tokens.get(authorization.removeprefix("Bearer "))
        return "local" if self.auth_off else None


def _error(status: int, detail: str, code: str, headers: dict[str, str] | None = None,
           ) -> tuple[int, dict[str, Any], dict[str, str]]:
    return status, {"detail": detail, "error_code": code, "timestamp": NOW}, headers or {}


@contextlib.contextmanager
def serve(api: FakeApi) -> Iterator[FakeApi]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            split = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            kind = self.headers.get("content-type") or ""
            if kind.startswith("application/json"):
                body: Any = json.loads(raw)
            elif kind.startswith("application/x-www-form-urlencoded"):
                body = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
            else:
                body = None
            request = Request(self.command, split.path, {k: v[0] for k, v in parse_qs(split.query).items()},
                              self.headers.get("authorization"), body)
            api.requests.append(request)
            status, answer, headers = api.handle(request)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
