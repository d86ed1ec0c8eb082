"""A JSON response rendered by orjson, returned directly by routes with large bodies (result pages, job lists).

Returning a Response skips FastAPI's ``jsonable_encoder``, which walks every value in Python: for a 10,000-row page
that walk costs more than reading the page.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
