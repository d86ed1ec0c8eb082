"""INTERFACE STUB (helper B implements): protobuf descriptor -> neutral column types."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from google.protobuf.descriptor import Descriptor

from engines.types import Column

DEFAULT_MAX_DEPTH = 6


def columns_for(message: Descriptor, *, max_depth: int = DEFAULT_MAX_DEPTH) -> list[Column]:
    raise NotImplementedError


def arrow_schema(columns: list[Column]) -> pa.Schema:
    """The Arrow schema of ingested batches; engines' insert accepts it for tables made from ``columns``."""
    raise NotImplementedError


def field_tree(message: Descriptor, *, max_depth: int = DEFAULT_MAX_DEPTH) -> list[dict[str, Any]]:
    """API.md's ``fields``: ``{"name", "number", "proto_type", "mode": NULLABLE|REQUIRED|REPEATED, "fields"}``."""
    raise NotImplementedError
