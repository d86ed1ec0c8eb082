"""How engine batches are stored as a result: one schema for the whole result, whatever each batch brings."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc


def storable_schema(schema: pa.Schema) -> pa.Schema:
    fields = [f.with_type(_storable_type(f.type)) for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def _storable_type(t: pa.DataType) -> pa.DataType:
    """The type a column is stored as: dictionaries decoded (IPC files allow one dictionary per column for the
    whole file, and engines send a new one per batch), run-end encoding expanded; nesting is followed."""
    if pa.types.is_dictionary(t) or pa.types.is_run_end_encoded(t):
        return _storable_type(t.value_type)
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_storable_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(t.key_field.with_type(_storable_type(t.key_type)),
                       t.item_field.with_type(_storable_type(t.item_type)), t.keys_sorted)
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_storable_type(t.value_type)))
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(_storable_type(t.value_type)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(_storable_type(t.value_type)), t.list_size)
    return t


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    if batch.num_columns != len(schema):
        raise ValueError(f"a result batch has {batch.num_columns} columns, the result's schema {len(schema)}")
    columns = []
    for column, field in zip(batch.columns, schema):
        if pa.types.is_run_end_encoded(column.type):
            column = pc.run_end_decode(column)
        if column.type != field.type:
            column = column.cast(field.type)
        columns.append(column)
    # Rebuilding with the stored schema also irons out nullability/metadata differences between batches.
    return pa.RecordBatch.from_arrays(columns, schema=schema)


class StoredBatches:
    """The engine's batches as stored: in the result's schema (fixed by the first batch), counted, and reported to
    ``on_batch`` one by one."""

    def __init__(self, source: Iterator[pa.RecordBatch], known_schema: pa.Schema | None,
                 on_batch: Callable[[int], None] | None) -> None:
        self._source = source
        self._known_schema = known_schema
        self._on_batch = on_batch
        self.schema: pa.Schema | None = None
        self.starts = [0]
        self.exhausted = False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        try:
            batch = next(self._source)
        except StopIteration:
            self.exhausted = True
            if self.schema is None:
                self.schema = storable_schema(self._known_schema if self._known_schema is not None else pa.schema([]))
            raise
        if self.schema is None:
            self.schema = storable_schema(batch.schema)
        batch = conform(batch, self.schema)
        if batch.num_rows:
            self.starts.append(self.starts[-1] + batch.num_rows)
        if self._on_batch is not None:
            self._on_batch(self.starts[-1])
        return batch

    def take(self, max_bytes: int) -> list[pa.RecordBatch]:
        """Batches until the stream ends (``exhausted``) or they hold more than ``max_bytes``."""
        taken, size = [], 0
        for batch in self:
            taken.append(batch)
            size += batch.get_total_buffer_size()
            if size > max_bytes:
                break
        return taken

    def close(self) -> None:
        # Stops the engine's generator (its finally releases the cursor); never mask the first error.
        close = getattr(self._source, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
