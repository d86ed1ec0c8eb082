"""Reading Google-shaped request bodies and parameters defensively: every bad value is a 400 ``invalid`` naming
its field, never a 500 (the client would retry a 5xx for ten minutes)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from bqlite_app.bigquery.errors import BigQueryError, invalid

# A request body is JSON metadata (rows for insertAll included); the client sends data files through uploads.
MAX_BODY_BYTES = 64 * 1024**2


async def json_body(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BigQueryError(413, "invalid", f"Request body over {MAX_BODY_BYTES // 1024**2} MB")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise BigQueryError(413, "invalid", f"Request body over {MAX_BODY_BYTES // 1024**2} MB")
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"Malformed JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    return body


def object_field(container: dict[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{key}: must be an object", location=key)
    return value


def str_field(container: dict[str, Any], key: str, *, default: str | None = None) -> str | None:
    value = container.get(key, default)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{key}: must be a string", location=key)
    return value


def bounded_text(value: Any, name: str, limit: int) -> str | None:
    """An optional string field of at most ``limit`` characters (descriptions, friendly names)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name}: must be a string", location=name)
    if len(value) > limit:
        raise invalid(f"{name}: at most {limit:,} characters", location=name)
    return value


def int_param(value: Any, name: str, *, default: int, low: int, high: int | None) -> int:
    """Google sends int64 fields as strings or numbers."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise invalid(f"{name}: must be an integer", location=name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"{name}: must be an integer, got {str(value)[:40]!r}", location=name) from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise invalid(f"{name}: must be {bound}, got {number}", location=name)
    return number


def base_url(request: Request) -> str:
    """This face's own root (``.../bigquery/v2`` or ``.../upload/bigquery/v2``), for ``selfLink`` and upload
    session URLs: the client follows them as they are, so they must carry the mount prefix."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}".rstrip("/")
