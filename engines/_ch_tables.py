"""ClickHouse table DDL as statement lists, for one server (``cluster=None``) or a cluster (``CLICKHOUSE_CLUSTER``).

Pure functions: they render, the engine runs the list in order. With ``cluster=None`` every function returns the
statements a single server (or embedded chdb) has always run; the cluster layout is what follows.

In cluster mode a user-facing table ``db.t`` is two tables on every node, both created ``ON CLUSTER``:
- ``db.`t$local```: a ``ReplicatedMergeTree`` holding this shard's rows. Its Keeper path uses the ``{shard}`` and
  ``{replica}`` macros of each node's config; ClickHouse expands ``{database}`` and ``{table}`` at creation and stores
  the result, so a later RENAME or EXCHANGE keeps the table on its original path.
- ``db.t``: a ``Distributed`` table over every shard's ``t$local``. Reads fan out to one replica per shard; inserts
  are routed by the sharding key (see ``sharding_key``).
The suffix ``$local`` holds a character no table name created through the app may contain (they match
``[A-Za-z0-9_-]``; BigQuery keeps ``$`` for partition decorators), so a local table never collides with a user table
and the catalog can hide exactly these names.

Cluster ``ALTER``s of a replicated table run on one replica per shard and reach the others through replication;
``CREATE``, ``DROP``, ``RENAME`` and ``EXCHANGE`` run on every node. Before a staging table's parts are attached or
exchanged, ``SYSTEM SYNC REPLICA`` waits until every replica holds all of them: the insert reached only one replica.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engines._ddl_clickhouse import (
    qualified,
    quote,
    render_add_columns,
    render_additions,
    render_columns,
    render_create,
)
from engines.types import Column, Scalar

LOCAL_SUFFIX = "$local"
KEEPER_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
REPLICA_NAME = "{replica}"
# The setting that makes an insert into a Distributed table write to the shards before it answers, so a failure
# reaches the caller (in the background it would only be logged). ClickHouse 26.x name; ``insert_distributed_sync``
# is its old alias.
FOREGROUND_INSERT = {"distributed_foreground_insert": "1"}

# A cluster is named by an element of the server's <remote_servers>: XML element names without ":" (no macros:
# ``{cluster}`` would be expanded by each node, and we render the name into engine arguments too).
_CLUSTER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
# Keys that already are integers: used as they are. Any other type is hashed (Distributed needs an integer key).
_INTEGER_KINDS = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


def check_cluster(name: str) -> str:
    """``name`` when it is a plain cluster name, else ``ValueError``: it is pasted into every cluster statement."""
    if not _CLUSTER_NAME.fullmatch(name or ""):
        raise ValueError(f"invalid ClickHouse cluster name {name!r}: it must match {_CLUSTER_NAME.pattern}")
    return name


def local_name(table: str) -> str:
    return table + LOCAL_SUFFIX


def is_local(table: str) -> bool:
    return table.endswith(LOCAL_SUFFIX)


def sharding_key(columns: Sequence[Column], shard_key: str | None) -> str:
    """The Distributed sharding expression: ``rand()`` without a key; the column itself for a non-null integer (so
    ``id % shards`` picks the shard, and rows of one id stay together); else ``cityHash64`` of it, since Distributed
    takes integers only. A nullable key is hashed as a one-element tuple: ``cityHash64(NULL)`` is NULL, which
    Distributed refuses, and the tuple still keeps NULL apart from the type's default value."""
    if shard_key is None:
        return "rand()"
    column = next((c for c in columns if c.name == shard_key), None)
    if column is None:
        raise ValueError(f"shard key {shard_key!r} is not a column of the table")
    name = quote(column.name)
    if column.nullable:
        return f"cityHash64(tuple({name}))"
    if isinstance(column.type, Scalar) and column.type.kind in _INTEGER_KINDS:
        return name
    return f"cityHash64({name})"


def order_by(columns: Sequence[str]) -> str:
    """A sort key of column names; none is ``tuple()`` (insertion order)."""
    if not columns:
        return "tuple()"
    names = ", ".join(quote(c) for c in columns)
    return names if len(columns) == 1 else f"({names})"


def _on(cluster: str) -> str:
    return f" ON CLUSTER {quote(cluster)}"


def _distributed(database: str, table: str, cluster: str, key: str | None, *, exists: str = "") -> str:
    # Engine arguments as identifiers: ClickHouse reads an identifier argument as its name.
    args = [quote(cluster), quote(database), quote(local_name(table))] + ([key] if key else [])
    return (f"CREATE TABLE {exists}{qualified(database, table)}{_on(cluster)} AS "
            f"{qualified(database, local_name(table))} ENGINE = Distributed({', '.join(args)})")


def _replicated(sort_key: str) -> str:
    return f"ENGINE = ReplicatedMergeTree('{KEEPER_PATH}', '{REPLICA_NAME}') ORDER BY {sort_key}"


def create_database(database: str, cluster: str | None) -> str:
    return f"CREATE DATABASE IF NOT EXISTS {quote(database)}{_on(cluster) if cluster else ''}"


def create(database: str, table: str, columns: list[Column], cluster: str | None, *, if_not_exists: bool = True,
           shard_key: str | None = None, sort_by: Sequence[str] = ()) -> list[str]:
    """The table's CREATE statements (the database is ``create_database``'s). ``shard_key`` matters in a cluster
    only; ``sort_by`` is the MergeTree sort key."""
    if cluster is None:
        return [render_create(database, table, columns, if_not_exists=if_not_exists, order_by=order_by(sort_by))]
    key = sharding_key(columns, shard_key)
    exists = "IF NOT EXISTS " if if_not_exists else ""
    local = (f"CREATE TABLE {exists}{qualified(database, local_name(table))}{_on(cluster)} "
             f"{render_columns(columns)} {_replicated(order_by(sort_by))}")
    return [local, _distributed(database, table, cluster, key, exists=exists)]


def create_like(database: str, table: str, like: str, cluster: str | None, *, sort_key: str = "tuple()",
                key: str | None = "rand()") -> list[str]:
    """An empty table with ``like``'s columns. In a cluster ``sort_key`` and ``key`` are ``like``'s sort key and
    sharding expression as ClickHouse reports them: a replicated table cannot be copied with ``AS`` alone, since its
    stored Keeper path would then be the one ``like`` already uses."""
    if cluster is None:
        return [f"CREATE TABLE {qualified(database, table)} AS {qualified(database, like)}"]
    local = (f"CREATE TABLE {qualified(database, local_name(table))}{_on(cluster)} AS "
             f"{qualified(database, local_name(like))} {_replicated(sort_key or 'tuple()')}")
    return [local, _distributed(database, table, cluster, key)]


def drop(database: str, table: str, cluster: str | None) -> list[str]:
    """DROP ... SYNC: the name (and in a cluster the Keeper path) is free again when the statement returns."""
    if cluster is None:
        return [f"DROP TABLE IF EXISTS {qualified(database, table)} SYNC"]
    # The Distributed table first: while it exists, reads could reach a half-dropped local table.
    return [f"DROP TABLE IF EXISTS {qualified(database, name)}{_on(cluster)} SYNC"
            for name in (table, local_name(table))]


def add_columns(database: str, table: str, columns: list[Column], cluster: str | None) -> list[str]:
    """New nullable columns; in a cluster on the local tables first, so the Distributed one never names a column
    the shards lack."""
    if cluster is None:
        return [render_add_columns(database, table, columns)]
    return [f"ALTER TABLE {qualified(database, name)}{_on(cluster)} {render_additions(columns)}"
            for name in (local_name(table), table)]


def _sync_replicas(database: str, table: str, cluster: str) -> str:
    return f"SYSTEM SYNC REPLICA{_on(cluster)} {qualified(database, local_name(table))}"


def exchange(database: str, stage: str, table: str, cluster: str | None) -> list[str]:
    """Swap ``stage``'s rows into the existing ``table`` at once for readers; ``stage`` then holds the old rows (the
    caller drops it). In a cluster the local tables swap names, and each Distributed table keeps pointing at its
    local name, so ``table`` reads the new rows."""
    if cluster is None:
        return [f"EXCHANGE TABLES {qualified(database, stage)} AND {qualified(database, table)}"]
    return [_sync_replicas(database, stage, cluster),
            f"EXCHANGE TABLES {qualified(database, local_name(stage))} AND "
            f"{qualified(database, local_name(table))}{_on(cluster)}"]


def rename(database: str, stage: str, table: str) -> list[str]:
    """One server only: make ``stage`` the new ``table`` (a cluster creates ``table`` like ``stage`` and exchanges,
    since a Distributed table cannot be pointed at another local table)."""
    return [f"RENAME TABLE {qualified(database, stage)} TO {qualified(database, table)}"]


def attach_all(database: str, table: str, stage: str, cluster: str | None) -> list[str]:
    """Move every part of ``stage`` into ``table``: our tables have no partition key, so one partition, ``all``.
    Parts are hard-linked and appear together."""
    if cluster is None:
        return [f"ALTER TABLE {qualified(database, table)} ATTACH PARTITION ID 'all' FROM {qualified(database, stage)}"]
    return [_sync_replicas(database, stage, cluster),
            f"ALTER TABLE {qualified(database, local_name(table))}{_on(cluster)} ATTACH PARTITION ID 'all' FROM "
            f"{qualified(database, local_name(stage))}"]


def distributed_key(engine_full: str) -> str | None:
    """The sharding expression of a Distributed table, from ``system.tables.engine_full``
    (``Distributed(cluster, db, table[, key[, policy]])``); None when it has none."""
    match = re.match(r"\s*Distributed\s*\((.*)\)", engine_full, re.DOTALL)
    if match is None:
        return None
    args = _split_arguments(match.group(1))
    return args[3] if len(args) > 3 else None


def _split_arguments(text: str) -> list[str]:
    """Top-level comma-separated arguments, respecting brackets and quoted names and strings."""
    args, depth, quote_char, start, i = [], 0, "", 0, 0
    while i < len(text):
        char = text[i]
        if quote_char:
            if char == "\\":
                i += 1
            elif char == quote_char:
                quote_char = ""
        elif char in "'`\"":
            quote_char = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    args.append(text[start:].strip())
    return args
