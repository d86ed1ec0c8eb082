"""The ClickHouse side of ``sql.translate``, on the tree: types, UNNEST (ClickHouse has none), STRUCT field names,
WEEK truncation and the engine of a CREATE TABLE. How single constructs are written is ``sql_clickhouse_dialect``."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from bqlite_app.bigquery.sql_common import fix_types, week_trunc
from bqlite_app.errors import InvalidQuery

_CLICKHOUSE_FIXES = {
    exp.DType.DECIMAL: "Decimal(38, 9)", exp.DType.BIGDECIMAL: "Decimal(76, 38)",
    exp.DType.TIMESTAMPTZ: "DateTime64(6, 'UTC')", exp.DType.TIMESTAMP: "DateTime64(6, 'UTC')",
    exp.DType.DATETIME: "DateTime64(6, 'UTC')", exp.DType.DATE: "Date32", exp.DType.TIME: "Time64(6)",
    exp.DType.BINARY: "String", exp.DType.JSON: "String",
}


def clickhouse_rewrites(tree: exp.Expr) -> None:
    """Rewrite ``tree`` in place into what ClickHouse can run with BigQuery's meaning (see the module notes)."""
    fix_types(tree, _CLICKHOUSE_FIXES, "clickhouse")
    _unnest_clickhouse(tree)
    _check_struct_names(tree)
    _name_struct_fields(tree)
    for trunc in list(tree.find_all(exp.DateTrunc, exp.TimestampTrunc, exp.DatetimeTrunc)):
        week_trunc(trunc, "clickhouse")
    if isinstance(tree, exp.Create) and tree.kind == "TABLE":
        _clickhouse_table_engine(tree)


def _unnest_clickhouse(tree: exp.Expr) -> None:
    """``FROM UNNEST(a) AS x`` -> a subquery over ``arrayJoin``; ``FROM t, UNNEST(t.a) AS x`` (or CROSS / LEFT JOIN)
    -> ``ARRAY JOIN`` / ``LEFT ARRAY JOIN``. ClickHouse has no UNNEST."""
    for unnest in list(tree.find_all(exp.Unnest)):
        parent = unnest.parent
        if len(unnest.expressions) != 1:
            raise InvalidQuery("UNNEST of several arrays is not supported on ClickHouse")
        array = unnest.expressions[0].copy()
        alias = unnest.args.get("alias")
        columns = alias.columns if isinstance(alias, exp.TableAlias) else []
        name = columns[0].name if columns else (alias.name if alias is not None and alias.name else "f0_")
        offset = unnest.args.get("offset") or None
        if isinstance(parent, exp.From):
            unnest.replace(exp.Subquery(this=_array_join_select(array, name, offset),
                                        alias=exp.TableAlias(this=exp.to_identifier("__unnest"))))
        elif isinstance(parent, exp.Join):
            if offset is not None:
                raise InvalidQuery("UNNEST ... WITH OFFSET in a join is not supported on ClickHouse")
            side = (parent.side or "").upper()
            if parent.args.get("on") is not None and side != "LEFT":
                raise InvalidQuery("UNNEST joined ON a condition is not supported on ClickHouse")
            parent.set("side", None)
            parent.set("kind", "LEFT ARRAY" if side == "LEFT" else "ARRAY")
            parent.set("on", None)
            parent.set("this", exp.alias_(array, _ch_ident_node(name)))
        elif isinstance(parent, exp.In) or parent is None:
            # x IN UNNEST(a) -> has(a, x)
            if isinstance(parent, exp.In):
                parent.replace(exp.Anonymous(this="has", expressions=[array, parent.this.copy()]))
            else:
                raise InvalidQuery("UNNEST outside FROM is not supported on ClickHouse")
        else:
            raise InvalidQuery("UNNEST outside FROM is not supported on ClickHouse")


def _array_join_select(array: exp.Expr, name: str, offset: exp.Expr | None) -> exp.Select:
    """SELECT arrayJoin(a) AS name, or with an offset, both from arrayZip(a, range(length(a))). An array literal
    of STRUCTs also gives each field as a column, as BigQuery does."""
    fields = _literal_struct_fields(array) if offset is None else []
    if fields:
        # The literal's tuples lose their names (ClickHouse aliases inside tuple() are visible to the whole query,
        # so a second STRUCT('a' AS name) would clash); the fields come back as columns by position.
        for struct in array.expressions:
            struct.set("expressions", [item.this if isinstance(item, exp.Alias) else
                                       item.expression if isinstance(item, exp.PropertyEQ) else item
                                       for item in struct.expressions])
        inner = exp.select(exp.alias_(exp.Anonymous(this="arrayJoin", expressions=[array]), "__e"))
        select = exp.select(exp.alias_(exp.column("__e"), _ch_ident_node(name))).from_(exp.Subquery(this=inner))
        for index, field in enumerate(fields, start=1):
            element = exp.Anonymous(this="tupleElement", expressions=[exp.column("__e"), exp.Literal.number(index)])
            select = select.select(exp.alias_(element, _ch_ident_node(field)))
        return select
    if offset is None:
        return exp.select(exp.alias_(exp.Anonymous(this="arrayJoin", expressions=[array]), _ch_ident_node(name)))
    pairs = exp.Anonymous(this="arrayJoin", expressions=[exp.Anonymous(this="arrayZip", expressions=[
        array, exp.Anonymous(this="range", expressions=[
            exp.Anonymous(this="length", expressions=[array.copy()])])])])
    inner = exp.select(exp.alias_(pairs, "__pair"))
    offset_name = offset.name if isinstance(offset, exp.Identifier) and offset.name else "offset"
    return exp.select(
        exp.alias_(_element(1), _ch_ident_node(name)), exp.alias_(_element(2), _ch_ident_node(offset_name)),
    ).from_(exp.Subquery(this=inner))


def _check_struct_names(tree: exp.Expr) -> None:
    """A STRUCT literal becomes ``tuple(v AS name)``, and a ClickHouse alias is visible to the whole query: the same
    field name bound twice is refused by ClickHouse, so name it here instead."""
    seen: dict[str, str] = {}
    for struct in tree.find_all(exp.Struct):
        for item in struct.expressions:
            if isinstance(item, exp.Alias):
                name, value = item.alias.lower(), item.this.sql("bigquery")
            elif isinstance(item, exp.PropertyEQ):
                name, value = item.this.name.lower(), item.expression.sql("bigquery")
            else:
                continue
            if seen.setdefault(name, value) != value:
                raise InvalidQuery(f"STRUCT field name '{name}' given to different values in one query is not "
                                   "supported on ClickHouse")


def _literal_struct_fields(array: exp.Expr) -> list[str]:
    """Field names of an ``[STRUCT(...), ...]`` literal, from its first element."""
    if not isinstance(array, exp.Array) or not array.expressions or not isinstance(array.expressions[0], exp.Struct):
        return []
    names = []
    for item in array.expressions[0].expressions:
        if isinstance(item, exp.Alias):
            names.append(item.alias)
        elif isinstance(item, exp.PropertyEQ):
            names.append(item.this.name)
        else:
            return []
    return names


def _element(index: int) -> exp.Anonymous:
    return exp.Anonymous(this="tupleElement", expressions=[exp.column("__pair"), exp.Literal.number(index)])


def _name_struct_fields(tree: exp.Expr) -> None:
    """BigQuery names ``s.field`` and ``t.col`` by their last part; ClickHouse would call the first ``s.field``.
    Give each such select item that name as its alias, unless another item has it."""
    for select in tree.find_all(exp.Select):
        names = [item.alias_or_name.lower() for item in select.expressions]
        for item in list(select.expressions):
            if isinstance(item, (exp.Column, exp.Dot)) and item.parts and len(item.parts) > 1:
                name = item.parts[-1].name
                if names.count(name.lower()) == 1 and name:
                    item.replace(exp.alias_(item.copy(), _ch_ident_node(name)))


def _ch_ident_node(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _clickhouse_table_engine(tree: exp.Create) -> None:
    """A CREATE TABLE without an engine gets a MergeTree with no sort key, as our own DDL does."""
    properties = tree.args.get("properties")
    if properties is not None and properties.find(exp.EngineProperty) is not None:
        return
    added = sqlglot.parse_one("CREATE TABLE t (a Int64) ENGINE = MergeTree ORDER BY tuple()",
                              read="clickhouse").args["properties"].expressions
    if properties is None:
        tree.set("properties", exp.Properties(expressions=added))
    else:
        for prop in added:
            properties.append("expressions", prop)
