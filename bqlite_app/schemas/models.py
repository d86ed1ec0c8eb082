"""Registry records (schemas, their versions, the engine tables made from them) and what the registry hands out
about them: the ``*Public`` models, which are also the REST bodies of docs/api.md's "Schemas"."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from bqlite_app.db import utcnow


def new_schema_id() -> str:
    return f"sch_{uuid.uuid4().hex[:16]}"


class SchemaRecord(SQLModel, table=True):
    """One registered ``database.table``; its content lives in versions."""

    __tablename__ = "schemas"
    __table_args__ = (UniqueConstraint("database_name", "table_name"),)

    schema_id: str = Field(default_factory=new_schema_id, primary_key=True)
    database_name: str
    table_name: str
    message_type: str
    description: str = ""
    # The top-level scalar field that places rows on a ClickHouse cluster's shards (docs/clickhouse.md); None: random.
    shard_key: str | None = None
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SchemaVersion(SQLModel, table=True):
    __tablename__ = "schema_versions"
    __table_args__ = (UniqueConstraint("schema_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    schema_id: str = Field(foreign_key="schemas.schema_id", index=True)
    version: int
    fingerprint: str
    message_type: str
    main_file: str
    proto_source: str = ""
    # Every uploaded .proto text by file name (empty for an uploaded FileDescriptorSet).
    sources: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    descriptor_set: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    changes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class EngineTable(SQLModel, table=True):
    """A table created from a schema in one engine, and the schema version its columns match."""

    __tablename__ = "schema_tables"

    schema_id: str = Field(foreign_key="schemas.schema_id", primary_key=True)
    engine: str = Field(primary_key=True)
    table: str
    version: int
    created_at: datetime = Field(default_factory=utcnow)


class CreatedTable(SQLModel, table=True):
    """A table the registry created itself, per engine: the only tables it may replace, alter, fill or drop.

    Keyed by the table, not the schema, and kept when a schema is deleted without its tables: the registry did create
    that table, so a later registration of the same ``database.table`` may use it again.
    """

    __tablename__ = "schema_created_tables"

    engine: str = Field(primary_key=True)
    database_name: str = Field(primary_key=True)
    table_name: str = Field(primary_key=True)
    schema_id: str          # the schema that created it (no foreign key: it outlives that schema)
    created_at: datetime = Field(default_factory=utcnow)


# -- what the registry hands out -----------------------------------------------------------------------------------
# Timestamps are ISO strings with the UTC offset, as docs/api.md gives them (SQLite drops the offset).


class SchemaTablePublic(BaseModel):
    engine: str
    table: str          # "database.table"


class SchemaPublic(BaseModel):
    """A schema in the list (``GET /schemas``, the UI's schema list)."""

    schema_id: str
    table_name: str
    database_name: str
    description: str
    field_count: int    # top-level fields of the latest version
    version: int
    shard_key: str | None
    created_at: str
    updated_at: str
    tables: list[SchemaTablePublic]


class SchemaFieldPublic(BaseModel):
    """One field of the message, nested exactly as far as its column is (``translate.field_tree``)."""

    name: str
    number: int
    proto_type: str
    mode: str           # NULLABLE, REQUIRED or REPEATED
    fields: list[SchemaFieldPublic] = []


class SchemaVersionPublic(BaseModel):
    version: int
    fingerprint: str
    created_at: str
    changes: list[str]


class SchemaDetailPublic(SchemaPublic):
    """One schema in full (``GET /schemas/{id}``, the UI's schema page): the summary, plus its latest version."""

    message_type: str
    fields: list[SchemaFieldPublic]
    ddl: dict[str, str]  # engine -> the CREATE TABLE it would run
    versions: list[SchemaVersionPublic]
    proto_source: str


class TableCreatedPublic(BaseModel):
    """What creating the schema's table did in one engine; one engine failing does not undo the others."""

    created: bool
    table: str
    ddl: str
    error: str | None = None
