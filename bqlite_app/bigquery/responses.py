"""JSON answers rendered by orjson: result pages are large, and FastAPI's encoder walks every value in Python."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class GoogleJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
