"""The sample generator's shape, and loading it into both engines."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from bqlite_app.sample_data import (
    _FIELDS,
    _NEUTRAL,
    SAMPLE_SCHEMA,
    SAMPLE_TABLE,
    STAGING_TABLE,
    ensure_sample_loaded,
    generate_trips,
    sample_database,
)
from engines.base import Engine
from engines.types import Scalar, Timestamp

# The whole suite shares one sample table per engine; every test module loads this many rows.
SAMPLE_ROWS = 50_000


@pytest.fixture(scope="module")
def trips() -> pa.Table:
    return pa.Table.from_batches(generate_trips(100_000, seed=7, batch_rows=30_000))


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


# --- generation ----------------------------------------------------------------------------------------------


def test_row_count_and_batch_sizes() -> None:
    batches = list(generate_trips(70_001, batch_rows=25_000))
    assert [b.num_rows for b in batches] == [25_000, 25_000, 20_001]
    assert all(b.schema == SAMPLE_SCHEMA for b in batches)
    assert list(generate_trips(0)) == []


def test_deterministic_for_a_seed_whatever_the_batching() -> None:
    a = pa.Table.from_batches(generate_trips(150_000, seed=3, batch_rows=150_000))
    b = pa.Table.from_batches(generate_trips(150_000, seed=3, batch_rows=40_000))
    c = pa.Table.from_batches(generate_trips(150_000, seed=4))
    assert a.equals(b)
    assert not a.equals(c)


def test_column_types(trips: pa.Table) -> None:
    types = {f.name: str(f.type) for f in trips.schema}
    assert types["VendorID"] == "int32"
    assert types["tpep_pickup_datetime"] == types["tpep_dropoff_datetime"] == "timestamp[us]"
    assert types["trip_distance"] == types["total_amount"] == "double"
    assert types["store_and_fwd_flag"] == "string"
    assert trips.num_columns == 19
    neutral = {name: _NEUTRAL[typ] for name, typ, _ in _FIELDS}   # the sample's columns as neutral types
    assert list(neutral) == trips.schema.names
    assert neutral["tpep_pickup_datetime"] == Timestamp()
    assert neutral["PULocationID"] == Scalar("int32")


def test_value_ranges(trips: pa.Table) -> None:
    assert all(c.null_count == 0 for c in trips.columns)
    pickup, dropoff = _np(trips, "tpep_pickup_datetime"), _np(trips, "tpep_dropoff_datetime")
    assert pickup.min() >= np.datetime64("2024-01-01") and pickup.max() < np.datetime64("2024-02-01")
    minutes = (dropoff - pickup) / np.timedelta64(1, "m")
    assert minutes.min() > 0 and minutes.max() < 6 * 60
    assert set(np.unique(_np(trips, "VendorID"))) == {1, 2}
    assert set(np.unique(_np(trips, "payment_type"))) == {1, 2, 3, 4}
    assert set(trips.column("store_and_fwd_flag").unique().to_pylist()) == {"N", "Y"}
    for col in ("PULocationID", "DOLocationID"):
        assert 1 <= _np(trips, col).min() and _np(trips, col).max() <= 265
    assert 0 <= _np(trips, "passenger_count").min() and _np(trips, "passenger_count").max() <= 6
    dist = _np(trips, "trip_distance")
    assert dist.min() > 0 and dist.max() <= 60
    assert 1.0 < np.median(dist) < 3.0 and dist.mean() > np.median(dist)     # right-skewed, like log-normal


def test_total_is_the_sum_of_its_parts(trips: pa.Table) -> None:
    parts = sum(_np(trips, c) for c in (
        "fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge",
        "congestion_surcharge", "airport_fee"))
    np.testing.assert_allclose(_np(trips, "total_amount"), parts, atol=0.006)


def test_fare_tracks_distance(trips: pa.Table) -> None:
    assert np.corrcoef(_np(trips, "fare_amount"), _np(trips, "trip_distance"))[0, 1] > 0.8


def test_card_riders_tip_and_cash_tips_are_not_recorded(trips: pa.Table) -> None:
    payment, tip, fare = _np(trips, "payment_type"), _np(trips, "tip_amount"), _np(trips, "fare_amount")
    card_rate = tip[payment == 1].sum() / fare[payment == 1].sum()
    cash_rate = tip[payment == 2].sum() / fare[payment == 2].sum()
    assert 0.15 <= card_rate <= 0.30
    assert cash_rate < 0.01
    assert (payment == 1).mean() > 0.6


def test_hourly_rhythm_has_a_rush_hour_and_a_quiet_dawn(trips: pa.Table) -> None:
    hours = np.bincount(trips.column("tpep_pickup_datetime").to_numpy().astype("datetime64[h]").astype(int) % 24,
                        minlength=24)
    assert hours.argmax() in range(16, 21)
    assert hours[17:20].mean() > 5 * hours[3:6].mean()
    assert hours[8] > 3 * hours[4]


def test_weekday_rhythm_peaks_late_in_the_week(trips: pa.Table) -> None:
    days = _np(trips, "tpep_pickup_datetime").astype("datetime64[D]")
    weekday = (days.astype(int) + 3) % 7                              # 1970-01-01 was a Thursday; 0 = Monday
    per_day = np.bincount(weekday, minlength=7) / np.bincount((np.unique(days).astype(int) + 3) % 7, minlength=7)
    assert per_day[[3, 4]].min() > per_day[[0, 6]].max()               # Thu/Fri busier than Mon/Sun
    evening = np.isin(_np(trips, "tpep_pickup_datetime").astype("datetime64[h]").astype(int) % 24, range(19, 24))
    fri_sat_evening = (evening & np.isin(weekday, (4, 5))).sum() / 8
    mon_tue_evening = (evening & np.isin(weekday, (0, 1))).sum() / 10
    assert fri_sat_evening > 1.2 * mon_tue_evening


def test_airport_trips_are_longer_and_pay_fees(trips: pa.Table) -> None:
    pu, do = _np(trips, "PULocationID"), _np(trips, "DOLocationID")
    airport = np.isin(pu, (132, 138)) | np.isin(do, (132, 138))
    dist = _np(trips, "trip_distance")
    assert 0.02 < airport.mean() < 0.2
    assert np.median(dist[airport]) > 3 * np.median(dist[~airport])
    fee = _np(trips, "airport_fee")
    assert (fee[np.isin(pu, (132, 138))] == 1.75).all() and (fee[~np.isin(pu, (132, 138))] == 0).all()
    tolls = _np(trips, "tolls_amount")
    assert (tolls[airport] > 0).mean() > 5 * (tolls[~airport] > 0).mean()


def test_trips_are_slower_in_the_rush_hour(trips: pa.Table) -> None:
    pickup, dropoff = _np(trips, "tpep_pickup_datetime"), _np(trips, "tpep_dropoff_datetime")
    hours = (dropoff - pickup) / np.timedelta64(1, "h")
    hour = pickup.astype("datetime64[h]").astype(int) % 24
    dist = _np(trips, "trip_distance")
    mph = {h: dist[hour == h].sum() / hours[hour == h].sum() for h in (4, 18)}
    assert mph[4] > 1.3 * mph[18]


def test_start_date_moves_the_span() -> None:
    batch = next(generate_trips(1_000, start=date(2023, 6, 1), days=7))
    pickup = batch.column("tpep_pickup_datetime").to_numpy()
    assert pickup.min() >= np.datetime64("2023-06-01") and pickup.max() < np.datetime64("2023-06-08")


# --- loading -------------------------------------------------------------------------------------------------


def _count(engine: Engine, table: str = SAMPLE_TABLE) -> int:
    result = pa.Table.from_batches(list(engine.execute(f"SELECT count(*) FROM {table}", query_tag="t-count")))
    return result.column(0)[0].as_py()


def test_loads_once_then_is_idempotent(engine: Engine) -> None:
    db = sample_database(engine)
    ensure_sample_loaded(engine, SAMPLE_ROWS)
    engine.drop_table(db, SAMPLE_TABLE)
    assert ensure_sample_loaded(engine, SAMPLE_ROWS) is True
    assert ensure_sample_loaded(engine, SAMPLE_ROWS) is False
    assert _count(engine) == SAMPLE_ROWS
    assert not engine.table_exists(db, STAGING_TABLE)


def test_reloads_when_the_row_count_differs(engine: Engine) -> None:
    assert ensure_sample_loaded(engine, 1_000) is True
    assert _count(engine) == 1_000
    assert ensure_sample_loaded(engine, SAMPLE_ROWS) is True
    assert _count(engine) == SAMPLE_ROWS


def test_same_rows_in_both_engines(duckdb_engine: Engine, clickhouse_engine: Engine) -> None:
    ensure_sample_loaded(duckdb_engine, SAMPLE_ROWS)
    ensure_sample_loaded(clickhouse_engine, SAMPLE_ROWS)
    sql = ("SELECT count(*) AS n, round(sum(total_amount), 2) AS revenue, sum(PULocationID) AS zones, "
           "sum(extract(hour FROM tpep_pickup_datetime)) AS hours FROM nyc_taxi")
    results = [pa.Table.from_batches(list(e.execute(sql, query_tag="t-agg"))).to_pylist()[0]
               for e in (duckdb_engine, clickhouse_engine)]
    duck, click = results
    assert duck["n"] == click["n"] == SAMPLE_ROWS
    assert duck["zones"] == click["zones"] and duck["hours"] == click["hours"]
    assert duck["revenue"] == pytest.approx(click["revenue"], abs=0.02)     # float sums differ in order only


def test_a_failed_load_leaves_the_old_table_intact(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_sample_loaded(engine, SAMPLE_ROWS)

    def broken_insert(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(engine, "insert_arrow", broken_insert)
    with pytest.raises(RuntimeError, match="disk full"):
        ensure_sample_loaded(engine, SAMPLE_ROWS + 1)
    monkeypatch.undo()
    assert _count(engine) == SAMPLE_ROWS
    assert not engine.table_exists(sample_database(engine), STAGING_TABLE)
    assert ensure_sample_loaded(engine, SAMPLE_ROWS) is False
