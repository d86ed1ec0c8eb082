"""Sort, filter and aggregate a stored result in place: DuckDB over the result's Arrow data, never a copy of it.

A stored result is an Arrow IPC file, memory-mapped (``ResultStore.table``), or a small Arrow table from SQLite or
the cache. DuckDB scans that Arrow data directly (its Arrow scan reads the mapped buffers through the C data
interface, only the columns a query names). No user text ever reaches the SQL: the columns a request names are
checked against the result's schema and registered under generated names (``c0``, ``c1``...), and filter values are
bound parameters, cast to the column's type by DuckDB.

Sorting and filtering ask DuckDB for *row numbers* only (``SELECT __row ... ORDER BY ... LIMIT``), then take those rows
from the stored result with Arrow: the page keeps the result's exact types and values, columns DuckDB cannot read
are still shown, and a sort touches only the columns it orders by. The row number is the final sort key, so rows
that tie keep their stored order and pages never overlap or skip a row.

The request's syntax (``order_by``, ``filter``) is parsed in ``jobs.result_view``.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa

from bqlite_app.errors import ValidationFailed
from bqlite_app.jobs.result_view import PLAIN, ResultView, RowFilter, SortKey
from bqlite_app.jobs.results import ResultStore

__all__ = ["AGGREGATES", "Aggregate", "ResultQuery", "ViewPage"]

DEFAULT_MAX_GROUPS = 1000
MAX_GROUPS = 10_000
AGGREGATES = ("sum", "avg", "min", "max", "count")
Aggregation = Literal["sum", "avg", "min", "max", "count"]

_ROW = "__row"
# Export batches: indices taken per chunk, so memory holds one chunk of rows, never the result.
_EXPORT_CHUNK_ROWS = 64 * 1024
_NUMERIC_DUCKDB = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                   "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_TEMPORAL_DUCKDB = ("DATE", "TIMESTAMP")
# DuckDB errors a request can cause (a value that is no number, a type that cannot be ordered): the caller's 422.
_USER_ERRORS = (duckdb.ConversionException, duckdb.BinderException, duckdb.InvalidInputException,
                duckdb.NotImplementedException, duckdb.TypeMismatchException, duckdb.OutOfRangeException)


# -- answers -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewPage:
    table: pa.Table     # the rows, in the stored result's schema
    total_rows: int     # rows that pass the filters


@dataclass(frozen=True)
class Aggregate:
    """A result grouped by ``x``: one row per group, ordered by ``x`` (nulls last).

    Columns: ``x`` (the group's value, or the start of its bin), then one per y column, named as the y column
    (``<agg>_<y>`` when y is x itself); ``count`` with no y columns counts rows.
    """

    table: pa.Table
    x: str
    ys: tuple[str, ...]
    agg: str
    groups: int             # distinct x values (null counts as one) among the rows that pass the filters
    rows: int               # rows aggregated
    binned: bool = False    # x numeric/temporal with more than max_groups values: equal-width bins, keyed by start
    truncated: bool = False  # x of another type with more than max_groups values: only the largest groups
    bin_width: Any = None   # a number, or microseconds for a temporal x; None when not binned


@dataclass
class _Source:
    """The columns a query needs, registered in a DuckDB cursor under generated names."""

    cursor: duckdb.DuckDBPyConnection
    name: str
    alias: dict[str, str] = field(default_factory=dict)     # result column -> generated name
    types: dict[str, str] = field(default_factory=dict)     # result column -> DuckDB type

    def col(self, column: str) -> str:
        return f'"{self.alias[column]}"'


# -- the engine --------------------------------------------------------------------------------------------------


class ResultQuery:
    """Thread-safe; one per process. Each call opens a cursor on one private, sandboxed in-memory DuckDB."""

    def __init__(self, results: ResultStore, *, memory_limit: str | None = None,
                 count_cache_entries: int = 256) -> None:
        """``memory_limit`` bounds a sort's memory as ``BQLITE_QUERY_MEMORY_LIMIT`` bounds a query's (DuckDB's
        size text, e.g. ``4GB``; beyond it the sort spills to disk)."""
        self._results = results
        self._memory_limit = memory_limit
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self._counts: OrderedDict[tuple[Any, ...], int] = OrderedDict()
        self._count_entries = count_cache_entries

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                con = duckdb.connect(":memory:")
                if self._memory_limit:
                    con.execute("SET memory_limit = ?", [self._memory_limit])
                # It reads registered Arrow data only: no files, no network, no extensions, settings frozen.
                for setting in ("SET enable_external_access = false", "SET autoinstall_known_extensions = false",
                                "SET autoload_known_extensions = false", "SET preserve_insertion_order = true",
                                # A filter value without a zone reads as UTC, as the API writes timestamps.
                                "SET TimeZone = 'UTC'", "SET lock_configuration = true"):
                    con.execute(setting)
                self._con = con
            return self._con

    # -- sources ------------------------------------------------------------------------------------------------

    def _schema_names(self, job_id: str) -> list[str]:
        return self._results.schema(job_id).names

    def _check_columns(self, job_id: str, columns: Iterable[str], where: str) -> None:
        names = set(self._schema_names(job_id))
        for column in columns:
            if column not in names:
                shown = column if len(column) <= 80 else column[:80] + "…"
                raise ValidationFailed(f"{where}: the result has no column {shown!r}")

    def _open(self, job_id: str, columns: Sequence[str], *, with_row: bool) -> tuple[_Source, pa.Table]:
        """Register ``columns`` of the stored result (plus the row number) in a new cursor."""
        table = self._results.table(job_id)
        names = table.schema.names
        wanted = list(dict.fromkeys(columns))
        alias = {column: f"c{i}" for i, column in enumerate(wanted)}
        if any(names.count(column) > 1 for column in wanted):
            raise ValidationFailed("the result has several columns of that name; rename them in the query (AS)")
        arrays = [table.column(names.index(column)) for column in wanted]
        fields = [pa.field(alias[column], array.type) for column, array in zip(wanted, arrays)]
        if with_row:
            arrays.append(_row_numbers(table))
            fields.append(pa.field(_ROW, pa.int64()))
        source = pa.Table.from_arrays(arrays, schema=pa.schema(fields)) if arrays else None
        cursor = self._connection().cursor()
        name = f"result_{uuid.uuid4().hex}"
        try:
            if source is None:
                source = pa.table({"__empty": pa.nulls(table.num_rows, pa.int8())})
            cursor.register(name, source)
            described = cursor.execute(f'DESCRIBE "{name}"').fetchall()
        except duckdb.Error as exc:
            cursor.close()
            raise ValidationFailed(f"these columns cannot be sorted, filtered or grouped here: {_short(exc)}") from exc
        types = {row[0]: row[1] for row in described}
        return _Source(cursor, name, alias, {column: types[alias[column]] for column in wanted}), table

    @staticmethod
    def _close(source: _Source) -> None:
        try:
            source.cursor.unregister(source.name)
        finally:
            source.cursor.close()

    def _where(self, source: _Source, filters: Sequence[RowFilter]) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for f in filters:
            column, typ = source.col(f.column), source.types[f.column]
            if f.op == "is_null":
                clauses.append(f"{column} IS NULL")
            elif f.op == "not_null":
                clauses.append(f"{column} IS NOT NULL")
            elif f.op == "contains":
                params.append(f.value)
                clauses.append(f"contains(lower(CAST({column} AS VARCHAR)), lower(CAST(? AS VARCHAR)))")
            else:
                params.append(self._typed_value(source, f, typ))
                sql_op = "IS DISTINCT FROM" if f.op == "!=" else f.op
                clauses.append(f"{column} {sql_op} CAST(? AS {typ})")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    @staticmethod
    def _typed_value(source: _Source, f: RowFilter, typ: str) -> str | None:
        """The value as text, after checking it reads as the column's type (so the error names the filter)."""
        try:
            source.cursor.sql(f"SELECT CAST($1 AS {typ})", params=[f.value]).fetchall()
        except duckdb.Error as exc:
            raise ValidationFailed(f"filter {f.column!r} {f.op}: {f.value!r} is not a valid {typ} "
                                   f"({_short(exc)})") from exc
        return f.value

    @staticmethod
    def _order(source: _Source, keys: Sequence[SortKey], *, row: bool = True) -> str:
        terms = [f"{source.col(k.column)} {'DESC' if k.descending else 'ASC'} NULLS LAST" for k in keys]
        if row:
            terms.append(_ROW)
        return " ORDER BY " + ", ".join(terms)

    # -- rows ---------------------------------------------------------------------------------------------------

    def count(self, job_id: str, view: ResultView) -> int:
        """Rows of the result that pass ``view.filters`` (remembered per job and filters)."""
        info = self._results.info(job_id)
        if not view.filters:
            return info.rows
        key = (job_id, info.rows, info.bytes, view.filters)
        with self._lock:
            if key in self._counts:
                self._counts.move_to_end(key)
                return self._counts[key]
        self._check_columns(job_id, [f.column for f in view.filters], "filter")
        source, _ = self._open(job_id, [f.column for f in view.filters], with_row=False)
        try:
            where, params = self._where(source, view.filters)
            total = int(_run(source, f'SELECT count(*) FROM "{source.name}"{where}', params, "rows")[0][0])
        finally:
            self._close(source)
        with self._lock:
            self._counts[key] = total
            while len(self._counts) > self._count_entries:
                self._counts.popitem(last=False)
        return total

    def page(self, job_id: str, view: ResultView, offset: int, limit: int) -> ViewPage:
        """Rows ``[offset, offset + limit)`` of the sorted, filtered result, in the stored schema."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        total = self.count(job_id, view)
        if not view.active:
            return ViewPage(self._results.page(job_id, offset, limit), total)
        columns = self._view_columns(job_id, view)
        if offset >= total or limit == 0:
            return ViewPage(self._results.schema(job_id).empty_table(), total)
        source, table = self._open(job_id, columns, with_row=True)
        try:
            where, params = self._where(source, view.filters)
            order = self._order(source, view.order_by) if view.order_by else ""
            sql = f'SELECT {_ROW} FROM "{source.name}"{where}{order} LIMIT {int(limit)} OFFSET {int(offset)}'
            rows = _run(source, sql, params).column(0)
        finally:
            self._close(source)
        return ViewPage(_take(table, rows), total)

    def batches(self, job_id: str, view: ResultView) -> Iterator[pa.RecordBatch]:
        """Every row of the sorted, filtered result, in chunks (for exports). Checks run now; rows stream later."""
        if not view.active:
            return self._results.iter_batches(job_id)
        columns = self._view_columns(job_id, view)
        source, table = self._open(job_id, columns, with_row=True)
        try:
            where, params = self._where(source, view.filters)
            order = self._order(source, view.order_by) if view.order_by else ""
            reader = _run(source, f'SELECT {_ROW} FROM "{source.name}"{where}{order}', params, "reader")
        except BaseException:
            self._close(source)
            raise
        return self._taken(source, table, reader)

    def _taken(self, source: _Source, table: pa.Table, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        try:
            for chunk in reader:
                if chunk.num_rows:
                    yield from _take(table, chunk.column(0)).to_batches()
        finally:
            self._close(source)

    def _view_columns(self, job_id: str, view: ResultView) -> list[str]:
        columns = [k.column for k in view.order_by] + [f.column for f in view.filters]
        self._check_columns(job_id, [k.column for k in view.order_by], "order_by")
        self._check_columns(job_id, [f.column for f in view.filters], "filter")
        return columns

    # -- aggregation --------------------------------------------------------------------------------------------

    def aggregate(self, job_id: str, x: str, ys: Sequence[str] = (), agg: str = "sum", *,
                  view: ResultView = PLAIN, max_groups: int = DEFAULT_MAX_GROUPS) -> Aggregate:
        """The result (after ``view.filters``) grouped by ``x``, with ``agg`` over each of ``ys``.

        At most ``max_groups`` rows come back: a numeric or temporal x with more distinct values is split into
        ``max_groups`` equal-width bins (each keyed by its start); any other x keeps its ``max_groups`` largest
        groups (by rows). ``count`` with no ys counts rows; ``count`` of a y counts its non-null values.
        """
        agg = agg.lower()
        if agg not in AGGREGATES:
            raise ValidationFailed(f"agg: one of {', '.join(AGGREGATES)}, got {agg[:20]!r}")
        ys = tuple(dict.fromkeys(ys))
        if not ys and agg != "count":
            raise ValidationFailed("y: name at least one column (or use agg=count)")
        if len(ys) > 32:
            raise ValidationFailed("y: at most 32 columns")
        if not 1 <= max_groups <= MAX_GROUPS:
            raise ValidationFailed(f"max_groups: must be between 1 and {MAX_GROUPS:,}")
        self._check_columns(job_id, [x], "x")
        self._check_columns(job_id, ys, "y")
        self._check_columns(job_id, [f.column for f in view.filters], "filter")
        source, _ = self._open(job_id, [x, *ys, *(f.column for f in view.filters)], with_row=False)
        try:
            return self._aggregate(source, x, ys, agg, view, max_groups)
        finally:
            self._close(source)

    def _aggregate(self, source: _Source, x: str, ys: tuple[str, ...], agg: str, view: ResultView,
                   max_groups: int) -> Aggregate:
        for y in ys:
            if agg in ("sum", "avg") and not source.types[y].startswith(_NUMERIC_DUCKDB):
                raise ValidationFailed(f"y: {agg} needs a numeric column; {y!r} is {source.types[y]}")
        where, params = self._where(source, view.filters)
        xcol, table = source.col(x), f'"{source.name}"'
        groups, rows = _run(source, f"SELECT count(DISTINCT {xcol}) + (count(*) > count({xcol}))::INT, count(*) "
                                    f"FROM {table}{where}", params, "rows")[0]
        out_names = [x] + [f"{agg}_{y}" if y == x else y for y in ys] + ([] if ys else ["count"])
        measures = [_measure(agg, source.col(y)) for y in ys] or ["count(*)"]
        xtype = source.types[x]
        binned = truncated = False
        width: Any = None
        key, extra = xcol, ""
        if groups <= max_groups:
            pass
        elif xtype.startswith(_NUMERIC_DUCKDB) or xtype.startswith(_TEMPORAL_DUCKDB):
            key, width = self._bin_key(source, xcol, xtype, where, params, max_groups)
            binned = True
        else:
            extra = (f" QUALIFY row_number() OVER (ORDER BY count(*) DESC, {xcol} ASC NULLS LAST) <= "
                     f"{int(max_groups)}")
            truncated = True
        select = ", ".join([f"{key} AS g"] + [f"{m} AS m{i}" for i, m in enumerate(measures)])
        sql = f"SELECT {select} FROM {table}{where} GROUP BY g{extra} ORDER BY g ASC NULLS LAST"
        result = _run(source, sql, params)
        return Aggregate(table=result.rename_columns(out_names), x=x, ys=ys, agg=agg, groups=int(groups),
                         rows=int(rows), binned=binned, truncated=truncated, bin_width=width)

    @staticmethod
    def _bin_key(source: _Source, xcol: str, xtype: str, where: str, params: list[Any],
                 max_groups: int) -> tuple[str, Any]:
        if xtype.startswith(_TEMPORAL_DUCKDB):
            lo, hi = _run(source, f"SELECT epoch_us(min({xcol})::TIMESTAMP), epoch_us(max({xcol})::TIMESTAMP) "
                                  f'FROM "{source.name}"{where}', params, "rows")[0]
            width = max(1, -(-(int(hi) - int(lo) + 1) // max_groups))  # microseconds, ceiling
            origin = f"make_timestamp({int(lo)}::BIGINT)"
            key = f"time_bucket(to_microseconds({width}::BIGINT), {xcol}::TIMESTAMP, {origin})"
            if xtype == "DATE":
                key = f"CAST({key} AS DATE)" if width % 86_400_000_000 == 0 else key
            return key, width
        integral = xtype.startswith(("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "U"))
        if integral:
            lo, hi = (int(v) for v in _run(source, f"SELECT min({xcol})::HUGEINT, max({xcol})::HUGEINT "
                                                   f'FROM "{source.name}"{where}', params, "rows")[0])
            width = max(1, -(-(hi - lo + 1) // max_groups))
            key = f"({lo}::HUGEINT + (({xcol}::HUGEINT - {lo}) // {width}) * {width})"
            wide = xtype in ("HUGEINT", "UBIGINT", "UHUGEINT")
            return (key if wide else f"{key}::BIGINT"), width
        finite = f"isfinite({xcol}::DOUBLE)"   # -inf lands in the first bin, NaN and +inf in the last
        lo, hi = (0.0 if v is None else float(v) for v in _run(
            source, f"SELECT min({xcol}::DOUBLE) FILTER (WHERE {finite}), max({xcol}::DOUBLE) FILTER "
                    f'(WHERE {finite}) FROM "{source.name}"{where}', params, "rows")[0])
        width = (hi - lo) / max_groups or 1.0
        index = f"greatest(0, least(floor(({xcol}::DOUBLE - {lo!r}) / {width!r}), {max_groups - 1}))"
        return f"({lo!r} + {index} * {width!r})", width


def _measure(agg: str, column: str) -> str:
    if agg in ("sum", "avg"):
        return f"CAST({agg}({column}) AS DOUBLE)"
    return f"{agg}({column})"


def _run(source: _Source, sql: str, params: list[Any], how: str = "table") -> Any:
    """Run ``sql`` and fetch its answer (``table``: an Arrow table, ``rows``: tuples, ``reader``: an Arrow stream);
    errors a request can cause become ``ValidationFailed``."""
    try:
        relation = source.cursor.sql(sql, params=params or None)
        if how == "rows":
            return relation.fetchall()
        if how == "reader":
            return relation.to_arrow_reader(_EXPORT_CHUNK_ROWS)
        return relation.to_arrow_table()
    except _USER_ERRORS as exc:
        raise ValidationFailed(f"cannot apply this sort, filter or grouping: {_short(exc)}") from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


_ROW_NUMBERS: OrderedDict[tuple[int, ...], pa.ChunkedArray] = OrderedDict()
_ROW_NUMBERS_LOCK = threading.Lock()
_ROW_NUMBERS_MAX_ROWS = 16 * 1024**2     # 128 MiB of int64 at most, over all kept layouts
_ROW_NUMBERS_ENTRIES = 8


def _row_numbers(table: pa.Table) -> pa.ChunkedArray:
    """0, 1, 2... laid out in the table's own chunks (DuckDB reads them beside the columns, chunk by chunk).

    Kept for the last few chunk layouts: paging through a sorted result asks for the same numbers every page."""
    lengths = tuple(len(chunk) for chunk in table.column(0).chunks) if table.num_columns else (table.num_rows,)
    with _ROW_NUMBERS_LOCK:
        found = _ROW_NUMBERS.get(lengths)
        if found is not None:
            _ROW_NUMBERS.move_to_end(lengths)
            return found
    starts = itertools.accumulate(lengths, initial=0)
    numbers = pa.chunked_array([pa.array(np.arange(start, start + n, dtype=np.int64)) for start, n in
                                zip(starts, lengths)], type=pa.int64())
    with _ROW_NUMBERS_LOCK:
        _ROW_NUMBERS[lengths] = numbers
        while len(_ROW_NUMBERS) > _ROW_NUMBERS_ENTRIES or sum(map(sum, _ROW_NUMBERS)) > _ROW_NUMBERS_MAX_ROWS:
            _ROW_NUMBERS.popitem(last=False)
            if not _ROW_NUMBERS:
                break
    return numbers


def _take(table: pa.Table, rows: pa.Array | pa.ChunkedArray) -> pa.Table:
    """``table.take(rows)``, batch by batch: Arrow's take over a many-chunk table costs about 10x more (it walks
    every chunk for every column), while here each batch is asked only for its own rows, in file order, and the
    gathered rows (few) are put back in the asked order at the end."""
    wanted = np.asarray(rows.to_numpy() if isinstance(rows, pa.ChunkedArray) else rows, dtype=np.int64)
    if not len(wanted):
        return table.schema.empty_table()
    batches = table.to_batches()
    starts = np.concatenate(([0], np.cumsum([batch.num_rows for batch in batches], dtype=np.int64)))
    order = np.argsort(wanted, kind="stable")
    ordered = wanted[order]
    which = np.searchsorted(starts, ordered, side="right") - 1
    cuts = np.flatnonzero(np.diff(which)) + 1
    pieces = []
    for lo, hi in zip(np.concatenate(([0], cuts)), np.concatenate((cuts, [len(ordered)]))):
        batch = int(which[lo])
        pieces.append(batches[batch].take(pa.array(ordered[lo:hi] - starts[batch])))
    gathered = pa.Table.from_batches(pieces, schema=table.schema).combine_chunks()
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return gathered.take(pa.array(inverse))
