"""Protobuf schemas: compile, version, check compatibility, translate to columns, and ingest binary data."""
