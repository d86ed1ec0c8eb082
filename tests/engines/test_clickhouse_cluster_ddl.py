"""Cluster-mode DDL (``CLICKHOUSE_CLUSTER``): no cluster runs here, so the statements are checked as text
and parsed by ClickHouse itself (chdb)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bqlite_app.sample_data import SAMPLE_TABLE, ensure_sample_loaded, sample_database
from bqlite_app.settings import Settings
from engines import _ch_tables as tables
from engines._ddl_clickhouse import render_create
from engines.clickhouse_engine import ClickHouseEngine
from engines.errors import EngineQueryError
from engines.types import Column, Enum, ListOf, Scalar, Timestamp
from tests.conftest import SAMPLE_ROWS

C = "bqlite"
COLUMNS = [Column("id", Scalar("int64"), nullable=False), Column("city", Scalar("string"), nullable=False),
           Column("note", Scalar("string"))]
REPLICATED = "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"
BODY = "(\n    `id` Int64,\n    `city` String,\n    `note` Nullable(String)\n)"


def test_create_without_a_shard_key_spreads_rows_at_random():
    assert tables.create("db", "trips", COLUMNS, C) == [
        f"CREATE TABLE IF NOT EXISTS `db`.`trips$local` ON CLUSTER `bqlite` {BODY} {REPLICATED} ORDER BY tuple()",
        "CREATE TABLE IF NOT EXISTS `db`.`trips` ON CLUSTER `bqlite` AS `db`.`trips$local` "
        "ENGINE = Distributed(`bqlite`, `db`, `trips$local`, rand())",
    ]


def test_create_with_an_integer_key_shards_by_the_column_and_keeps_the_sort_key():
    local, distributed = tables.create("db", "trips", COLUMNS, C, if_not_exists=False, shard_key="id",
                                       sort_by=("city", "id"))
    assert local == (f"CREATE TABLE `db`.`trips$local` ON CLUSTER `bqlite` {BODY} {REPLICATED} "
                     "ORDER BY (`city`, `id`)")
    assert distributed == ("CREATE TABLE `db`.`trips` ON CLUSTER `bqlite` AS `db`.`trips$local` "
                           "ENGINE = Distributed(`bqlite`, `db`, `trips$local`, `id`)")


@pytest.mark.parametrize(("column", "key"), [
    (Column("k", Scalar("string"), nullable=False), "cityHash64(`k`)"),
    (Column("k", Scalar("binary"), nullable=False), "cityHash64(`k`)"),
    (Column("k", Enum((("A", 0),)), nullable=False), "cityHash64(`k`)"),
    (Column("k", Scalar("float64"), nullable=False), "cityHash64(`k`)"),
    (Column("k", Scalar("uint32"), nullable=False), "`k`"),
    (Column("k", Scalar("bool"), nullable=False), "`k`"),
    (Column("k", Scalar("int64")), "cityHash64(tuple(`k`))"),       # nullable: proto3 optional, oneof members
    (Column("k", Scalar("string")), "cityHash64(tuple(`k`))"),
])
def test_sharding_keys_are_integers_or_hashes(column: Column, key: str):
    assert tables.sharding_key([column], "k") == key
    assert tables.sharding_key([column], None) == "rand()"


def test_an_unknown_shard_key_refuses_the_table():
    with pytest.raises(ValueError, match="'nope' is not a column"):
        tables.create("db", "t", COLUMNS, C, shard_key="nope")


def test_drop_both_tables_distributed_first():
    assert tables.drop("db", "t", C) == [
        "DROP TABLE IF EXISTS `db`.`t` ON CLUSTER `bqlite` SYNC",
        "DROP TABLE IF EXISTS `db`.`t$local` ON CLUSTER `bqlite` SYNC",
    ]


def test_add_columns_on_the_local_table_then_the_distributed_one():
    added = [Column("extra", Scalar("int32")), Column("tags", ListOf(Scalar("string")))]
    adds = "ADD COLUMN IF NOT EXISTS `extra` Nullable(Int32), ADD COLUMN IF NOT EXISTS `tags` Array(String)"
    assert tables.add_columns("db", "t", added, C) == [
        f"ALTER TABLE `db`.`t$local` ON CLUSTER `bqlite` {adds}",
        f"ALTER TABLE `db`.`t` ON CLUSTER `bqlite` {adds}",
    ]


def test_swap_exchanges_the_local_tables_after_the_replicas_caught_up():
    assert tables.exchange("db", "stage", "t", C) == [
        "SYSTEM SYNC REPLICA ON CLUSTER `bqlite` `db`.`stage$local`",
        "EXCHANGE TABLES `db`.`stage$local` AND `db`.`t$local` ON CLUSTER `bqlite`",
    ]
    assert tables.attach_all("db", "t", "stage", C) == [
        "SYSTEM SYNC REPLICA ON CLUSTER `bqlite` `db`.`stage$local`",
        "ALTER TABLE `db`.`t$local` ON CLUSTER `bqlite` ATTACH PARTITION ID 'all' FROM `db`.`stage$local`",
    ]


def test_create_like_names_its_own_keeper_path_and_keeps_the_keys():
    assert tables.create_like("db", "copy", "t", C, sort_key="tpep_pickup_datetime", key="cityHash64(city)") == [
        f"CREATE TABLE `db`.`copy$local` ON CLUSTER `bqlite` AS `db`.`t$local` {REPLICATED} "
        "ORDER BY tpep_pickup_datetime",
        "CREATE TABLE `db`.`copy` ON CLUSTER `bqlite` AS `db`.`copy$local` "
        "ENGINE = Distributed(`bqlite`, `db`, `copy$local`, cityHash64(city))",
    ]


def test_one_server_keeps_its_statements():
    assert tables.create("db", "t", COLUMNS, None) == [render_create("db", "t", COLUMNS)]
    assert tables.create_database("db", None) == "CREATE DATABASE IF NOT EXISTS `db`"
    assert tables.create_database("db", C) == "CREATE DATABASE IF NOT EXISTS `db` ON CLUSTER `bqlite`"
    assert tables.drop("db", "t", None) == ["DROP TABLE IF EXISTS `db`.`t` SYNC"]
    assert tables.exchange("db", "s", "t", None) == ["EXCHANGE TABLES `db`.`s` AND `db`.`t`"]
    assert tables.create_like("db", "s", "t", None) == ["CREATE TABLE `db`.`s` AS `db`.`t`"]
    assert tables.attach_all("db", "t", "s", None) == ["ALTER TABLE `db`.`t` ATTACH PARTITION ID 'all' FROM `db`.`s`"]


def test_hostile_identifiers_stay_quoted():
    hostile = [Column("a`; DROP TABLE x; --", Scalar("string"), nullable=False)]
    local, distributed = tables.create("d`b", "t`x", hostile, C, shard_key=hostile[0].name)
    assert "`d\\`b`.`t\\`x$local`" in local and "`a\\`; DROP TABLE x; --` String" in local
    assert distributed.endswith("Distributed(`bqlite`, `d\\`b`, `t\\`x$local`, cityHash64(`a\\`; DROP TABLE x; --`))")
    assert tables.drop("d`b", "t`x", C)[1] == "DROP TABLE IF EXISTS `d\\`b`.`t\\`x$local` ON CLUSTER `bqlite` SYNC"


@pytest.mark.parametrize("name", ["", "a b", "x`y", "{cluster}", "c; DROP TABLE t", "1abc", "c'", "a" * 129])
def test_bad_cluster_names_are_refused_at_construction(name: str):
    with pytest.raises(ValueError, match="invalid ClickHouse cluster name"):
        tables.check_cluster(name)
    if name:    # an empty name means "no cluster"
        with pytest.raises(ValueError):
            ClickHouseEngine(lambda: None, mode="server", cluster=name)
        with pytest.raises(ValidationError, match="CLICKHOUSE_CLUSTER"):   # and a clear error at startup
            Settings(CLICKHOUSE_CLUSTER=name)


@pytest.mark.parametrize("name", ["bqlite", "prod_cluster", "eu-west.1"])
def test_plain_cluster_names_pass(name: str):
    assert tables.check_cluster(name) == name


@pytest.mark.parametrize(("engine_full", "key"), [
    ("Distributed('bqlite', 'db', 't$local', rand())", "rand()"),
    ("Distributed(`bqlite`, `db`, `t$local`, cityHash64(`a,b`, 'x)'), 'policy')", "cityHash64(`a,b`, 'x)')"),
    ("Distributed(bqlite, db, t_local)", None),
    ("ReplicatedMergeTree('/p', '{replica}') ORDER BY tuple()", None),
])
def test_the_sharding_key_is_read_back_from_engine_full(engine_full: str, key: str | None):
    assert tables.distributed_key(engine_full) == key


def _every_cluster_statement() -> list[str]:
    return [
        tables.create_database("db", C),
        *tables.create("db", "t", COLUMNS, C, shard_key="city", sort_by=("id",)),
        *tables.create_like("db", "c", "t", C, sort_key="id", key="cityHash64(city)"),
        *tables.drop("db", "t", C),
        *tables.add_columns("db", "t", [Column("extra", Scalar("int32"))], C),
        *tables.exchange("db", "s", "t", C),
        *tables.attach_all("db", "t", "s", C),
    ]


@pytest.mark.parametrize("statement", _every_cluster_statement())
def test_clickhouse_parses_every_cluster_statement(clickhouse_engine, statement: str):
    rows = list(clickhouse_engine.execute("SELECT formatQuery({q:String}) AS f", query_tag="cluster-ddl-parse",
                                          parameters={"q": statement}))
    assert [r for b in rows for r in b.column("f").to_pylist()]


@pytest.mark.parametrize("shard_key", ["id", "city", "note", "at", None])
def test_clickhouse_accepts_each_sharding_expression(clickhouse_engine, shard_key: str | None):
    """Distributed checks its key's type before it looks the cluster up, so an unknown cluster proves the key."""
    columns = [*COLUMNS, Column("at", Timestamp(), nullable=False)]
    database, table = "cluster_ddl_check", f"keys_{shard_key}"
    clickhouse_engine.create_table(database, tables.local_name(table), columns, replace=True)
    distributed = tables.create(database, table, columns, "no_such_cluster", shard_key=shard_key)[1]
    with pytest.raises(EngineQueryError, match="no_such_cluster"):
        list(clickhouse_engine.execute(distributed.replace(" ON CLUSTER `no_such_cluster`", ""),
                                       query_tag="cluster-ddl-key"))


def test_the_sample_table_keeps_its_sort_key(clickhouse_engine):
    ensure_sample_loaded(clickhouse_engine, SAMPLE_ROWS)     # the suite's one size for the shared table
    db = sample_database(clickhouse_engine)
    rows = list(clickhouse_engine.execute(
        f"SELECT sorting_key FROM system.tables WHERE database = '{db}' AND name = '{SAMPLE_TABLE}'",
        query_tag="sample-sort-key"))
    assert rows[-1].column(0).to_pylist() == ["tpep_pickup_datetime"]
