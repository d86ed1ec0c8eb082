"""Errors a load raises beyond the core's own, in the classes the faces already map.

Not-found errors subclass ``TableNotFound`` (the BigQuery face answers ``notFound``) with status 404; a
``WRITE_EMPTY`` load into a table with rows is a ``ValidationConflict`` (409, BigQuery's ``duplicate``).
"""

from __future__ import annotations

from bqlite_app.errors import TableNotFound, ValidationConflict


class DatasetNotFound(TableNotFound):
    status, error_code = 404, "DATASET_NOT_FOUND"


class DestinationNotFound(TableNotFound):
    """The destination table does not exist and ``create_disposition`` is ``CREATE_NEVER``."""

    status = 404


class TableNotEmpty(ValidationConflict):
    """``WRITE_EMPTY`` and the destination already has rows."""
