"""How the workspace draws a result page: which columns are numbers, their header icons and widths, and the values
the quick chart can plot. Pure functions of the column types and a sample of the values."""

from __future__ import annotations

import math
from typing import Any

WIDTH_SAMPLE_ROWS = 200
MIN_COLUMN_PX, MAX_COLUMN_PX = 64, 420
_NUMERIC_PREFIXES = ("INT", "UINT", "FLOAT", "NUMERIC", "BIGNUMERIC")
_ICONS = {
    "STRING": "headerString", "BYTES": "headerString", "BOOL": "headerBoolean", "DATE": "headerDate",
    "DATETIME": "headerDate", "TIMESTAMP": "headerDate", "TIME": "headerTime", "INTERVAL": "headerTime",
}


def is_numeric(type_name: str) -> bool:
    return type_name.startswith(_NUMERIC_PREFIXES)


def header_icon(type_name: str) -> str:
    if is_numeric(type_name):
        return "headerNumber"
    if type_name.startswith("ARRAY"):
        return "headerArray"
    if type_name.startswith(("STRUCT", "MAP", "JSON")):
        return "headerCode"
    return _ICONS.get(type_name, "headerString")


def column_width(title: str, sample: list[Any]) -> int:
    """A width (px) that fits the header and the longest sampled value, within bounds: the grid draws on a canvas
    and does not measure text itself."""
    longest = max((len(str(v)) for v in sample), default=0)
    return max(MIN_COLUMN_PX, min(MAX_COLUMN_PX, max(len(title) * 7 + 44, longest * 8 + 24)))


def to_number(value: Any) -> float | None:
    """A value the chart can plot: a finite number, or text that reads as one (decimals arrive as strings)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
