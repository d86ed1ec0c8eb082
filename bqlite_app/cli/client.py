"""A thin client for the REST API of docs/api.md: one method per route, errors turned into ``CliError``s.

Answers are the API's JSON as plain dicts: the CLI shows what the API says, so there is no second model to drift.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from bqlite_app import __version__
from bqlite_app.cli.errors import ApiError, Unreachable

# Long enough for a slow request on a busy machine; uploads, exports and long polls set their own read timeouts.
READ_TIMEOUT_S = 60.0
TIMEOUT = httpx.Timeout(READ_TIMEOUT_S, connect=5.0)
UNBOUNDED_READ = httpx.Timeout(READ_TIMEOUT_S, connect=5.0, read=None)

ProtoUpload = tuple[str, bytes]  # (file name, content)
# ("order_by", spec) and ("filter", spec) pairs for a result (docs/api.md: sorting and filtering a result)
ResultViewParams = tuple[tuple[str, str], ...]


class ApiClient:
    def __init__(self, base_url: str, *, token: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"user-agent": f"bqlite-cli/{__version__}"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        # Plain http needs no certificates: loading the CA bundle would cost every command ~50 ms of startup.
        self._http = httpx.Client(base_url=self.base_url, timeout=TIMEOUT, transport=transport,
                                  verify=self.base_url.startswith("https:"), headers=headers)

    def close(self) -> None:
        self._http.close()

    # -- system --------------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self._json("GET", "/status")

    def examples(self, engine: str | None = None) -> dict[str, Any]:
        return self._json("GET", "/examples", params=_present(engine=engine))

    # -- queries and jobs ----------------------------------------------------------------------------------------

    def submit_query(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/queries", json=body)

    def job(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{job_id}")

    def jobs(self, *, status: str | None = None, engine: str | None = None, search: str | None = None,
             limit: int = 50, offset: int = 0) -> dict[str, Any]:
        return self._json("GET", "/jobs", params=_present(status=status, engine=engine, search=search, limit=limit,
                                                          offset=offset))

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/jobs/{job_id}")

    def plan(self, job_id: str) -> dict[str, Any]:
        """The job's EXPLAIN and the execution graph of its run."""
        return self._json("GET", f"/jobs/{_segment(job_id)}/plan")

    def result_page(self, job_id: str, *, offset: int = 0, limit: int = 1000, timeout_ms: int = 0,
                    view: ResultViewParams = ()) -> dict[str, Any]:
        """A JSON page; ``timeout_ms`` waits for an unfinished job (the answer is ``{"status"}`` only if it is not
        done by then). ``view``: ``("order_by", spec)`` / ``("filter", spec)`` pairs, checked by the server."""
        timeout = httpx.Timeout(READ_TIMEOUT_S + timeout_ms / 1000, connect=5.0)
        return self._json("GET", f"/jobs/{job_id}/result", timeout=timeout,
                          params=[("offset", offset), ("limit", limit), ("timeout_ms", timeout_ms), *view])

    @contextlib.contextmanager
    def export(self, job_id: str, fmt: str, *, view: ResultViewParams = ()) -> Iterator[httpx.Response]:
        """The whole result (sorted and filtered by ``view``) as a byte stream (``response.iter_bytes()``); nothing
        is held in memory."""
        with self._stream("GET", f"/jobs/{job_id}/result", params=[("format", fmt), *view],
                          timeout=UNBOUNDED_READ) as response:
            yield response

    # -- schemas -------------------------------------------------------------------------------------------------

    def register_schema(self, proto: ProtoUpload, imports: Iterable[ProtoUpload], fields: dict[str, str],
                        ) -> dict[str, Any]:
        return self._json("POST", "/schemas/register", files=_proto_files(proto, imports), data=fields)

    def diff_schema(self, schema_id: str, proto: ProtoUpload, imports: Iterable[ProtoUpload],
                    message_type: str | None) -> dict[str, Any]:
        return self._json("POST", f"/schemas/{schema_id}/diff", files=_proto_files(proto, imports),
                          data=_present(message_type=message_type))

    def schemas(self) -> dict[str, Any]:
        return self._json("GET", "/schemas")

    def schema(self, schema_id: str) -> dict[str, Any]:
        return self._json("GET", f"/schemas/{schema_id}")

    def create_tables(self, schema_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", f"/schemas/{schema_id}/tables/create", json=body)

    def ingest(self, schema_id: str, chunks: Iterable[bytes], *, size: int | None, fmt: str,
               engines: str | None) -> dict[str, Any]:
        """Upload ``chunks`` as the raw body. A known ``size`` is sent as Content-Length, so an oversized body is
        refused before it is sent; otherwise the body goes chunked."""
        headers = {"content-type": "application/octet-stream"}
        if size is not None:
            headers["content-length"] = str(size)
        return self._json("POST", f"/schemas/{schema_id}/ingest", content=chunks, headers=headers,
                          params=_present(format=fmt, engines=engines), timeout=UNBOUNDED_READ)

    def delete_schema(self, schema_id: str, *, drop_tables: bool) -> dict[str, Any]:
        return self._json("DELETE", f"/schemas/{schema_id}", params={"drop_tables": str(drop_tables).lower()})

    # -- identity, access and audit ------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> dict[str, Any]:
        """``POST /auth/token`` (the OAuth2 password form): ``{"access_token", "token_type", "expires_in"}``."""
        return self._json("POST", "/auth/token", data={"username": username, "password": password})

    def me(self) -> dict[str, Any]:
        return self._json("GET", "/auth/me")

    def change_password(self, current: str, new: str) -> dict[str, Any]:
        return self._json("POST", "/auth/password", json={"current_password": current, "new_password": new})

    def api_tokens(self) -> dict[str, Any]:
        return self._json("GET", "/auth/api-tokens")

    def create_api_token(self, name: str, expires_in_days: int | None) -> dict[str, Any]:
        return self._json("POST", "/auth/api-tokens", json={"name": name, "expires_in_days": expires_in_days})

    def revoke_api_token(self, token_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/auth/api-tokens/{_segment(token_id)}")

    def users(self) -> dict[str, Any]:
        return self._json("GET", "/users")

    def create_user(self, username: str, password: str, role: str) -> dict[str, Any]:
        return self._json("POST", "/users", json={"username": username, "password": password, "role": role})

    def update_user(self, username: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._json("PATCH", f"/users/{_segment(username)}", json=changes)

    def delete_user(self, username: str) -> dict[str, Any]:
        return self._json("DELETE", f"/users/{_segment(username)}")

    def grants(self, dataset: str) -> dict[str, Any]:
        return self._json("GET", f"/datasets/{_segment(dataset)}/grants")

    def set_grant(self, dataset: str, username: str, role: str) -> dict[str, Any]:
        return self._json("PUT", f"/datasets/{_segment(dataset)}/grants/{_segment(username)}", json={"role": role})

    def revoke_grant(self, dataset: str, username: str) -> dict[str, Any]:
        return self._json("DELETE", f"/datasets/{_segment(dataset)}/grants/{_segment(username)}")

    def audit(self, **filters: Any) -> dict[str, Any]:
        return self._json("GET", "/audit", params=_present(**filters))

    def audit_verify(self) -> dict[str, Any]:
        return self._json("GET", "/audit/verify")

    # -- saved queries -------------------------------------------------------------------------------------------

    def saved_queries(self, *, q: str | None = None, scope: str | None = None, name: str | None = None,
                      owner: str | None = None, limit: int = 100) -> dict[str, Any]:
        return self._json("GET", "/saved-queries", params=_present(q=q, scope=scope, name=name, owner=owner,
                                                                   limit=limit))

    def saved_query(self, saved_id: str) -> dict[str, Any]:
        return self._json("GET", f"/saved-queries/{_segment(saved_id)}")

    def save_query(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/saved-queries", json=body)

    def update_saved_query(self, saved_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._json("PATCH", f"/saved-queries/{_segment(saved_id)}", json=changes)

    def delete_saved_query(self, saved_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/saved-queries/{_segment(saved_id)}")

    # -- transport -----------------------------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        with self._stream(method, path, **kwargs) as response:
            response.read()
        return response.json() if response.content else {}

    @contextlib.contextmanager
    def _stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self._http.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _api_error(response)
                yield response
        except httpx.TimeoutException as exc:
            raise Unreachable(self.base_url, f"no answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Unreachable(self.base_url, _reason(exc)) from None


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"] if isinstance(body["detail"], str) else json.dumps(body["detail"])
        error = ApiError(response.status_code, detail, str(body.get("error_code") or "UNKNOWN_ERROR"))
        retry_after = response.headers.get("retry-after")
        if response.status_code == 429 and retry_after and "try again" not in detail.lower():
            error.hint = f"Try again in {retry_after} s."
        return error
    # Not our envelope: probably not a BigQuery-Lite server at this URL.
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
    return ApiError(response.status_code, f"{text} (is {response.url.host}:{response.url.port} BigQuery-Lite?)",
                    f"HTTP_{response.status_code}")


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else (str(exc) or "cannot connect")
    return str(exc) or type(exc).__name__


def _segment(value: str) -> str:
    """One path segment: a name with `/`, `?` or `%` in it stays one segment."""
    return quote(str(value), safe="")


def _present(**params: Any) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


def _proto_files(proto: ProtoUpload, imports: Iterable[ProtoUpload]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (proto[0], proto[1], "text/plain")),
            *(("imports", (name, content, "text/plain")) for name, content in imports)]
