"""Datasets (docs/api.md, "Datasets and grants"): what a dataset may be named, where it lives per engine, and creating
or dropping one, for every face (the BigQuery API, the UI's Load data dialog, loads, the schema registry, grants).

A dataset is a database name, the same on both engines: a DuckDB schema, a ClickHouse database. The sample tables
form the dataset ``default``, which is DuckDB's schema ``main`` and ClickHouse's database ``default``; every other
dataset has its own name on both engines.

This module is core level: it may use access, errors and engines, never a face (bigquery, api, state), so each face
applies the same rules instead of keeping its own copy of them.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from bqlite_app.access.principal import LOCAL, Principal
from bqlite_app.errors import DatasetReserved, ValidationConflict, ValidationFailed
from engines.base import Engine
from engines.errors import EngineQueryError, EngineUnavailable

if TYPE_CHECKING:   # grants import this module for the name rules; only the types are needed here
    from bqlite_app.access.audit import AuditLog
    from bqlite_app.access.grants import Grants

SAMPLE_DATASET = "default"
# The dataset holding each query's anonymous result table, named by its job id (as BigQuery's ``_...`` datasets);
# the BigQuery face answers for it, no engine has it.
ANON_DATASET = "_query_results"
# Each engine's database for the sample dataset: where the engine's unqualified names resolve.
SAMPLE_DATABASES: Mapping[str, str] = MappingProxyType({"duckdb": "main", "clickhouse": "default"})

# Names no dataset may be created under, nor loaded or registered into (compared lower-cased: DuckDB's schema names
# ignore case, so ``Main`` is ``main``):
RESERVED_DATASETS = frozenset({
    SAMPLE_DATASET,         # the sample: readable by all, changed by nobody but SQL
    "main",                 # DuckDB's name for the sample dataset
    ANON_DATASET,           # the BigQuery face's anonymous query results
    "system",               # ClickHouse's own tables (processes, settings, query_log...)
    "information_schema",   # both engines' catalog views
    "pg_catalog",           # DuckDB's PostgreSQL-compatible catalog
    "temp",                 # DuckDB's temporary objects
})

# BigQuery's rule for dataset ids (letters, digits, underscores; here not starting with a digit, as the SQL faces
# require), up to BigQuery's 1024 characters: what may be looked up, granted or loaded into.
MAX_DATASET_CHARS = 1024
# A dataset we create is at most 100 characters: ClickHouse keeps a directory per database and a file per table
# whose names must fit the file system (a dataset and a table of 100 characters each still fit, 128 each do not).
MAX_NEW_NAME_CHARS = 100
DATASET_NAME = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_DATASET_CHARS - 1}}}")
NEW_DATASET_NAME = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_NEW_NAME_CHARS - 1}}}")


class DatasetExists(ValidationConflict):
    """Creating a dataset whose name is taken (ignoring case: DuckDB's schema ``Sales`` is also ``sales``)."""

    error_code = "DATASET_EXISTS"

    def __init__(self, name: str) -> None:
        super().__init__(f"Dataset {name} already exists")
        self.name = name


# -- names -----------------------------------------------------------------------------------------------------


def engine_database(engine_name: str, dataset: str) -> str:
    """The database (DuckDB schema) that holds ``dataset`` on ``engine_name``."""
    if dataset == SAMPLE_DATASET:
        return SAMPLE_DATABASES.get(engine_name, SAMPLE_DATASET)
    return dataset


def dataset_of(engine_name: str, database: str | None) -> str:
    """The dataset a database of ``engine_name`` is (None or empty: the engine's default database, the sample)."""
    if not database or database == SAMPLE_DATABASES.get(engine_name, SAMPLE_DATASET):
        return SAMPLE_DATASET
    return database


def is_reserved(dataset: str) -> bool:
    return dataset.lower() in RESERVED_DATASETS


def refuse_reserved(dataset: str, *, field: str = "dataset") -> str:
    """``dataset`` unless it is reserved (``DatasetReserved`` naming the reserved names otherwise)."""
    if is_reserved(dataset):
        raise DatasetReserved(
            f"{field}: {dataset!r} is reserved (the sample dataset, the query results or an engine's system "
            f"catalog); choose another dataset, e.g. 'bigquery_lite'. Reserved: {', '.join(sorted(RESERVED_DATASETS))}")
    return dataset


def check_dataset_name(dataset: Any, *, field: str = "dataset") -> str:
    """A dataset name from a client, before it reaches SQL or a grant: ``ValidationFailed`` when it is none."""
    if not isinstance(dataset, str) or not DATASET_NAME.fullmatch(dataset):
        raise ValidationFailed(f"{field}: {dataset!r} must be letters, digits and underscores, not starting with a "
                               f"digit, at most {MAX_DATASET_CHARS} characters")
    return dataset


def check_new_dataset(dataset: Any, *, field: str = "dataset") -> str:
    """A name a new dataset may take: ``ValidationFailed`` for a bad name, ``DatasetReserved`` for a reserved one."""
    if not isinstance(dataset, str) or not NEW_DATASET_NAME.fullmatch(dataset):
        raise ValidationFailed(f"{field}: {dataset!r} is not a name you can create: use letters, digits and "
                               f"underscores, not starting with a digit, at most {MAX_NEW_NAME_CHARS} characters")
    return refuse_reserved(dataset, field=field)


# -- the engines ---------------------------------------------------------------------------------------------


def database_exists(engine: Engine, dataset: str) -> bool:
    """Whether ``engine`` holds ``dataset`` (exactly that name; the sample always exists)."""
    return dataset == SAMPLE_DATASET or dataset in engine.databases()


def _run(engine: Engine, sql: str) -> None:
    for _ in engine.execute(sql, query_tag=f"dataset-ddl-{uuid.uuid4().hex[:16]}"):
        pass


class Datasets:
    """Which datasets exist, and creating or dropping one on every engine, with the checks and records docs/api.md asks
    for: both need the admin role (``CREATE``/``DROP SCHEMA``), the creator owns the new dataset, and each is audited.

    Engine errors (``EngineUnavailable``, ``EngineQueryError``) pass through for each face to answer in its terms.
    """

    def __init__(self, engines: Mapping[str, Engine], grants: Grants, audit: AuditLog) -> None:
        self._engines = engines
        self._grants = grants
        self._audit = audit
        # One create or drop at a time: the existence check and the DDL on both engines go together.
        self._lock = threading.Lock()

    def names(self, *, tolerant: bool = False) -> set[str]:
        """Every dataset on any engine, empty ones and the sample included. ``tolerant`` (listings): an engine that
        cannot answer adds none instead of failing the whole answer."""
        found = {SAMPLE_DATASET}
        for name, engine in self._engines.items():
            try:
                found |= {dataset_of(name, database) for database in engine.databases()}
            except (EngineUnavailable, EngineQueryError):
                if not tolerant:
                    raise
        return found

    def exists(self, dataset: str, *, engine: str | None = None) -> bool:
        """Whether ``dataset`` (exactly that name) is on ``engine``, or on any engine when None."""
        engines = [self._engines[engine]] if engine is not None else list(self._engines.values())
        return any(database_exists(e, dataset) for e in engines)

    def find(self, dataset: str) -> str | None:
        """The existing dataset whose name equals ``dataset`` ignoring case, if any: a new dataset may not take it,
        since DuckDB would make both one schema."""
        wanted = dataset.lower()
        return next((name for name in sorted(self.names()) if name.lower() == wanted), None)

    def create(self, dataset: str, *, user: Principal, exist_ok: bool = False,
               detail: dict[str, Any] | None = None) -> bool:
        """Create ``dataset`` on every engine, make ``user`` its owner and record it (``detail`` says through what).

        True when it was created; False when it exists and ``exist_ok``, else ``DatasetExists``. Raises
        ``ValidationFailed``/``DatasetReserved`` for a name that cannot be created and ``AccessDenied`` (recorded)
        for a caller who is not an admin; the name is checked before it reaches any SQL.
        """
        refuse_reserved(check_dataset_name(dataset))
        if not exist_ok:    # first: whether a name is taken is not a non-admin's business
            self._grants.require_admin(user, "create a dataset", target=dataset, action="dataset.create")
        with self._lock:
            taken = self.find(dataset)      # compared here, never put in SQL
            if taken is not None:
                if exist_ok:
                    return False
                raise DatasetExists(taken)
            check_new_dataset(dataset)      # only a name we create must fit ClickHouse's file names
            self._grants.require_admin(user, "create a dataset", target=dataset, action="dataset.create")
            for name, engine in self._engines.items():
                keyword = "DATABASE" if name == "clickhouse" else "SCHEMA"
                _run(engine, f"CREATE {keyword} IF NOT EXISTS {engine.quote(dataset)}")
            if user.user_id != LOCAL.user_id:   # auth off: nobody to own it, and the built-in admin may do anything
                self._grants.make_owner(user.user_id, dataset)
        self._audit.record(user, "dataset.create", target=dataset, detail=detail)
        return True

    def drop(self, dataset: str, *, user: Principal, detail: dict[str, Any] | None = None) -> None:
        """Drop ``dataset`` and everything in it on every engine, and its grants (a dataset created again under its
        name starts with no owners). Admins only; a reserved dataset never (``DatasetReserved``)."""
        check_dataset_name(dataset)
        refuse_reserved(dataset)
        self._grants.require_admin(user, "delete a dataset", target=dataset, action="dataset.delete")
        with self._lock:
            for name, engine in self._engines.items():
                if name == "clickhouse":
                    _run(engine, f"DROP DATABASE IF EXISTS {engine.quote(dataset)} SYNC")
                else:
                    _run(engine, f"DROP SCHEMA IF EXISTS {engine.quote(dataset)} CASCADE")
            self._grants.forget_dataset(dataset)
        self._audit.record(user, "dataset.delete", target=dataset, detail=detail)
