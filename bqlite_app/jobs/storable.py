"""How engine batches are stored in a result file: one schema for the whole file, whatever each batch brings."""

from __future__ import annotations

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
