"""Finding a table for the BigQuery face: on which engine it lives, and its BigQuery schema.

A table lives on one engine: reads look on ``BQLITE_BIGQUERY_ENGINE`` first and then on the other (a table made by
SQL or the schema registry may be on either). Its BigQuery schema is the declared one kept in ``catalog`` (modes,
descriptions, JSON/GEOGRAPHY) for the columns the engine still has, the registry's for a table made from a .proto,
else the engine's columns read back through Arrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bqlite_app.access.principal import Principal
from bqlite_app.bigquery import catalog as cat
from bqlite_app.bigquery.errors import invalid, not_found
from bqlite_app.bigquery.routes_datasets import require_dataset
from bqlite_app.bigquery.schema_arrow import arrow_to_fields
from bqlite_app.core import Core
from bqlite_app.datasets import SAMPLE_DATASET


@dataclass
class TableRef:
    project: str
    dataset: str
    table: str

    @property
    def full(self) -> str:
        return f"{self.project}:{self.dataset}.{self.table}"


@dataclass
class FoundTable:
    ref: TableRef
    engine: str
    row: cat.BigQueryTable
    fields: list[dict[str, Any]]
    view_sql: str | None
    schema_id: str | None       # registered from a .proto


# ---------------------------------------------------------------------------------------------------- finding

def find_table(core: Core, user: Principal, ref: TableRef, role: str, *, action: str = "") -> FoundTable:
    """The table, when the caller holds ``role`` on its dataset (403) and it exists (404)."""
    cat.check_table_id(ref.table)
    cat.check_dataset_id(ref.dataset)
    if ref.dataset == cat.ANON_DATASET:
        raise not_found(f"Table {ref.full}")
    core.grants.require(user, ref.dataset, role, action=action)  # type: ignore[arg-type]
    catalog = cat.catalog_for(core)
    row = catalog.table(ref.dataset, ref.table)
    engine = cat.locate_table(core, ref.dataset, ref.table, preferred=row.engine if row is not None else None)
    if engine is None:
        # Which one is missing, as BigQuery says it (the dataset is only looked for now: a found table has one).
        require_dataset(core, user, ref.project, ref.dataset, role, action=action)
        raise not_found(f"Table {ref.full}")
    row = catalog_row(catalog, row, ref.dataset, ref.table, engine)
    view_sql = cat.is_view(core, engine, ref.dataset, ref.table)
    schema_id = core.schemas.find(ref.dataset, ref.table)
    fields = _effective_fields(core, row, engine, ref, schema_id)
    return FoundTable(ref, engine, row, fields, view_sql, schema_id)


def catalog_row(catalog: cat.BigQueryCatalog, row: cat.BigQueryTable | None, dataset: str, table: str,
             engine: str) -> cat.BigQueryTable:
    """The table's catalog row; a table seen for the first time (or again on another engine) gets a fresh one."""
    if row is not None and row.engine == engine:
        return row
    return catalog.put_table(cat.BigQueryTable(dataset_id=dataset, table_id=table, engine=engine))


def _effective_fields(core: Core, row: cat.BigQueryTable, engine: str, ref: TableRef,
                      schema_id: str | None) -> list[dict[str, Any]]:
    """The declared fields for the columns the engine has, the engine's (or the registry's) for the others."""
    data = cat.run_select(core.engines[engine], f"SELECT * FROM {cat.qualified(engine, ref.dataset, ref.table)} "
                                                "LIMIT 0")
    engine_fields = arrow_to_fields(data.schema)
    if schema_id is not None:
        proto = cat.catalog_for(core).proto_fields(core.schemas, schema_id, core.settings.proto_max_depth)
        registered = {f["name"]: f for f in proto}
        engine_fields = [registered.get(f["name"], f) for f in engine_fields]
    declared = {f["name"]: f for f in row.fields}
    return [declared.get(f["name"], f) for f in engine_fields]


def check_anon_table(core: Core, user: Principal, ref: TableRef) -> None:
    """``_query_results.<job_id>``: the job exists, is the caller's (404 otherwise, as a missing one) and has a
    stored result."""
    if not all(c.isalnum() or c in "_-" for c in ref.table) or not 0 < len(ref.table) <= 1024:
        raise not_found(f"Table {ref.full}")
    core.queries.get(ref.table, user=user)      # someone else's job answers 404, as a missing one
    assert core.results is not None
    if not core.results.exists(ref.table):
        raise not_found(f"Table {ref.full}")


def refuse_default(dataset: str, what: str) -> None:
    """The sample dataset is read-only through this API."""
    if dataset == SAMPLE_DATASET:
        raise invalid(f"The dataset default (the sample data) is reserved: this API cannot {what} it; "
                      "create a dataset of your own")


def flag(body: dict[str, Any], key: str) -> bool:
    """A boolean body field: true or false, nothing else."""
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise invalid(f"{key}: must be true or false", location=key)
    return value
