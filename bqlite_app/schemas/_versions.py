"""Helpers of the schema registry: message choice, shard key, version rows and column changes."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from bqlite_app.errors import ValidationFailed
from bqlite_app.schemas.compat import Comparison
from bqlite_app.schemas.compiler import CompiledSchema
from bqlite_app.schemas.models import SchemaRecord, SchemaVersion
from engines.types import Column


@dataclass(frozen=True)
class Registration:
    record: SchemaRecord
    version: SchemaVersion
    field_count: int
    new_version: bool


@dataclass(frozen=True)
class SchemaDiff:
    """What registering new content over a schema's latest version would do, without doing it."""

    current_version: int
    message_type: str
    unchanged: bool
    comparison: Comparison
    columns_added: list[str]
    columns_changed: list[str]

    @property
    def next_version(self) -> int | None:
        if self.unchanged:
            return self.current_version
        return self.current_version + 1 if self.comparison.compatible else None


def unchanged(latest: SchemaVersion, digest: str, message: str) -> bool:
    return latest.fingerprint == digest and latest.message_type == message


def column_changes(old: list[Column], new: list[Column]) -> tuple[list[Column], list[str]]:
    """New top-level columns, and the names of existing ones whose type changed (a nested message changed)."""
    old_by_name = {c.name: c for c in old}
    added = [c for c in new if c.name not in old_by_name]
    changed = [c.name for c in new if c.name in old_by_name and old_by_name[c.name].type != c.type]
    return added, changed


def choose_message(compiled: CompiledSchema, message_type: str | None) -> str:
    names = compiled.message_names()
    if message_type:
        wanted = message_type.lstrip(".")
        if wanted not in names:
            raise ValidationFailed(f"message_type: {wanted!r} is not a top-level message of {compiled.main_file}; "
                                   f"it defines {', '.join(names) or 'none'}")
        return wanted
    if len(names) != 1:
        raise ValidationFailed(f"message_type is required: {compiled.main_file} defines {len(names)} top-level "
                               f"messages ({', '.join(names) or 'none'})")
    return names[0]


def check_shard_key(message: Descriptor, shard_key: str | None) -> str | None:
    """``shard_key`` when it names a top-level scalar field of ``message`` (a string, number, bool, bytes or enum),
    else ``ValidationFailed``: a ClickHouse cluster places each row on a shard by that one value."""
    if not shard_key:
        return None
    field = message.fields_by_name.get(shard_key)
    if field is None:
        scalars = [f.name for f in message.fields if _is_scalar(f)]
        raise ValidationFailed(f"shard_key: {message.full_name} has no field {shard_key!r}; its top-level scalar "
                               f"fields are {', '.join(scalars) or 'none'}")
    if not _is_scalar(field):
        kind = "repeated or map" if field.is_repeated else "message"
        raise ValidationFailed(f"shard_key: {shard_key!r} is a {kind} field; the key must be a single scalar value "
                               "(string, number, bool, bytes or enum)")
    return shard_key


def _is_scalar(field: FieldDescriptor) -> bool:
    # Well-known wrappers and Timestamp are messages too: refused, like any message, to keep the rule one line long.
    return not field.is_repeated and field.message_type is None


def version_row(record: SchemaRecord, number: int, compiled: CompiledSchema, message: str, digest: str,
                 changes: list[str]) -> SchemaVersion:
    return SchemaVersion(
        schema_id=record.schema_id, version=number, fingerprint=digest, message_type=message,
        main_file=compiled.main_file, proto_source=compiled.sources.get(compiled.main_file, ""),
        sources=dict(compiled.sources), descriptor_set=compiled.descriptor_set, changes=changes,
    )

