"""A deterministic NYC yellow-taxi-like sample table, loaded into both engines on first start.

The columns follow the TLC trip-record layout. Values are synthetic but keep the shapes analysts expect: log-normal
distances, fares that track distance and time, card tips around 20% and none on cash, rush-hour and weekend rhythms,
and long, tolled airport trips with an airport fee.

Timestamps are naive wall-clock times in whole seconds (as the TLC publishes them), typed as microseconds. DuckDB
stores them as ``TIMESTAMP`` and ClickHouse as ``DateTime64(6, 'UTC')``: naive values are read as UTC there, so
``toHour`` and ``extract(hour ...)`` give the same wall-clock hour on both engines whatever the server's time zone.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import date, datetime

import numpy as np
import pyarrow as pa

from bqlite_app.datasets import SAMPLE_DATASET, engine_database
from engines.base import Engine
from engines.types import Column, Scalar, Timestamp

log = logging.getLogger(__name__)

SAMPLE_TABLE = "nyc_taxi"
STAGING_TABLE = f"{SAMPLE_TABLE}__loading"
_TAG = "bqlite-sample-load"

# Rows are drawn in fixed-size chunks, each from its own seeded stream, so the data depends on (rows, seed) only
# and not on how the caller batches it.
_CHUNK_ROWS = 65_536
_HOUR_US = 3_600 * 1_000_000

_INT, _FLOAT, _TS, _STR = pa.int32(), pa.float64(), pa.timestamp("us"), pa.string()
_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("VendorID", _INT, "1 = Creative Mobile Technologies, 2 = VeriFone"),
    ("tpep_pickup_datetime", _TS, "Meter engaged (naive wall-clock time)"),
    ("tpep_dropoff_datetime", _TS, "Meter disengaged (naive wall-clock time)"),
    ("passenger_count", _INT, "Passengers, as entered by the driver"),
    ("trip_distance", _FLOAT, "Miles reported by the taximeter"),
    ("RatecodeID", _INT, "1 standard, 2 JFK, 3 Newark, 4 Nassau/Westchester, 5 negotiated"),
    ("store_and_fwd_flag", _STR, "Y when the record was held in the vehicle before sending"),
    ("PULocationID", _INT, "TLC taxi zone of pickup (1..265)"),
    ("DOLocationID", _INT, "TLC taxi zone of drop-off (1..265)"),
    ("payment_type", _INT, "1 credit card, 2 cash, 3 no charge, 4 dispute"),
    ("fare_amount", _FLOAT, "Time-and-distance fare"),
    ("extra", _FLOAT, "Rush-hour and overnight surcharges"),
    ("mta_tax", _FLOAT, "MTA tax"),
    ("tip_amount", _FLOAT, "Tips; cash tips are not recorded"),
    ("tolls_amount", _FLOAT, "Tolls paid"),
    ("improvement_surcharge", _FLOAT, "Improvement surcharge"),
    ("total_amount", _FLOAT, "Sum of all the amounts above"),
    ("congestion_surcharge", _FLOAT, "Manhattan congestion surcharge"),
    ("airport_fee", _FLOAT, "Fee for pickups at JFK and LaGuardia"),
]
SAMPLE_SCHEMA = pa.schema([pa.field(name, typ, nullable=False) for name, typ, _ in _FIELDS])

_NEUTRAL = {_INT: Scalar("int32"), _FLOAT: Scalar("float64"), _STR: Scalar("string"), _TS: Timestamp()}


# --- the shape of the city -------------------------------------------------------------------------------------

JFK, LGA, EWR = 132, 138, 1
# Zones south of 96th Street (plus Midtown/Downtown neighbours): trips touching them pay the congestion surcharge.
_MANHATTAN_CORE = (
    4, 12, 13, 45, 48, 50, 68, 79, 87, 88, 90, 100, 103, 104, 105, 107, 113, 114, 125, 137, 140, 141, 142, 143,
    144, 148, 158, 161, 162, 163, 164, 170, 186, 209, 211, 224, 229, 230, 231, 232, 233, 234, 236, 237, 238, 239,
    246, 249, 261, 262, 263,
)
_UPPER_MANHATTAN = (24, 41, 42, 74, 75, 116, 120, 127, 128, 151, 152, 153, 166, 194, 202, 243, 244)
# Relative pickup popularity of the busiest zones, roughly as in real monthly counts.
_HOT_ZONES = {
    161: 140, 237: 140, 236: 130, 162: 105, 230: 100, 186: 95, 142: 95, 170: 90, 239: 90, 163: 85, 234: 85,
    68: 80, 141: 75, 48: 75, 79: 75, 238: 65, 107: 65, 263: 60, 140: 60, 164: 60, 249: 60, 43: 55, 229: 55,
    100: 50, 246: 45, 137: 45, 262: 45, 233: 40, 90: 40, 50: 40, 113: 40, 158: 35, 143: 35, 151: 30, 231: 30,
    114: 30, 148: 30, 211: 25, 125: 25, 87: 25, 209: 20, 224: 20, 144: 20, 13: 20, 261: 20, 232: 15, 45: 15,
    41: 15, 166: 15, 74: 15, 75: 15, 42: 10, 4: 10, 24: 10, 7: 10, 264: 10, 116: 8, 152: 8, 88: 8, 12: 5, 265: 3,
}


def _zone_weights(dropoff: bool) -> np.ndarray:
    """Probability per zone (index 0 is zone 1). Drop-offs spread further into the outer boroughs."""
    w = np.full(265, 1.5 if dropoff else 0.5)
    for zone, weight in _HOT_ZONES.items():
        w[zone - 1] = weight
    w[JFK - 1], w[LGA - 1] = (40, 35) if dropoff else (90, 70)
    w[EWR - 1] = 3 if dropoff else 0.1
    return w / w.sum()


_PU_P, _DO_P = _zone_weights(False), _zone_weights(True)
_CORE = np.zeros(266, dtype=bool)
_CORE[list(_MANHATTAN_CORE)] = True
_MANHATTAN = _CORE.copy()
_MANHATTAN[list(_UPPER_MANHATTAN)] = True

# Share of trips per hour of day: weekdays peak at the morning and evening rush, weekends run late into the night.
# Both bottom out between 3 and 5 am.
_WEEKDAY_HOURS = np.array([
    1.6, 0.9, 0.6, 0.4, 0.35, 0.6, 1.9, 3.6, 4.6, 4.6, 4.6, 4.8,
    5.1, 5.3, 5.8, 6.0, 6.0, 6.8, 7.2, 6.2, 5.4, 5.3, 4.8, 3.4,
])
_WEEKEND_HOURS = np.array([
    3.5, 2.8, 2.0, 1.4, 0.9, 0.6, 0.8, 1.2, 1.9, 3.0, 4.0, 4.8,
    5.3, 5.6, 5.7, 5.7, 5.6, 5.8, 5.9, 5.6, 5.0, 4.8, 4.7, 4.4,
])
_DAY_FACTOR = np.array([0.85, 0.95, 1.0, 1.08, 1.1, 1.0, 0.82])    # Monday .. Sunday
# Average street speed (mph) by hour: slowest in the midday and evening crush, fastest before dawn.
_SPEED_MPH = np.array([
    17, 18, 19, 20, 20, 19, 15, 11, 9, 9, 10, 10, 10, 10, 10, 9.5, 9, 9, 10, 11, 12, 13, 14, 15,
], dtype=float)


def _slot_weights(start: date, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Probability of each (day, hour) slot in the span, and each slot's weekday."""
    first = start.toordinal()
    weekdays = np.array([date.fromordinal(first + d).weekday() for d in range(days)])
    hours = np.where((weekdays >= 5)[:, None], _WEEKEND_HOURS, _WEEKDAY_HOURS) * _DAY_FACTOR[weekdays, None]
    # Thursday to Saturday evenings are the busiest nights out.
    hours[np.isin(weekdays, (3, 4, 5)), 19:] *= 1.25
    p = hours.ravel()
    return p / p.sum(), np.repeat(weekdays, 24)


# --- generation ------------------------------------------------------------------------------------------------


def _cents(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


def _chunk(rng: np.random.Generator, n: int, start_us: int, slot_p: np.ndarray, slot_wd: np.ndarray) -> list:
    """One chunk of ``n`` trips, as Arrow arrays in ``SAMPLE_SCHEMA`` order."""
    slot = rng.choice(slot_p.size, size=n, p=slot_p)
    hour, weekday = slot % 24, slot_wd[slot]
    weekend = weekday >= 5
    # Meters record whole seconds.
    pickup = start_us + slot * _HOUR_US + rng.integers(0, 3_600, size=n) * 1_000_000

    pu = rng.choice(265, size=n, p=_PU_P) + 1
    do = rng.choice(265, size=n, p=_DO_P) + 1
    jfk, lga, ewr = (pu == JFK) | (do == JFK), (pu == LGA) | (do == LGA), do == EWR
    airport = jfk | lga | ewr
    outer = ~(_MANHATTAN[pu] & _MANHATTAN[do]) & ~airport

    # Distances: log-normal around 1.7 miles in town, longer to the outer boroughs, fixed-ish runs to the airports.
    dist = rng.lognormal(np.log(1.7), 0.75, size=n) * np.where(outer, 1.8, 1.0)
    dist = np.where(pu == do, rng.uniform(0.3, 1.5, size=n), dist)
    dist = np.where(lga, rng.normal(10.0, 2.5, size=n).clip(4.0), dist)
    dist = np.where(jfk, rng.normal(17.5, 3.5, size=n).clip(9.0), dist)
    dist = np.where(ewr, rng.normal(17.0, 3.0, size=n).clip(10.0), dist)
    dist = _cents(dist.clip(0.1, 60.0))

    # Durations follow the hour's street speed; weekends are lighter, and longer trips (airport runs above all)
    # spend more of their miles on highways.
    highway = np.where(airport, 1.7, np.clip(1 + (dist - 3) / 10, 1.0, 2.2))
    speed = _SPEED_MPH[hour] * np.where(weekend & (hour >= 7), 1.2, 1.0) * highway
    minutes = dist / speed * 60 * rng.lognormal(0.0, 0.2, size=n) + rng.uniform(0.5, 2.0, size=n)
    dropoff = pickup + np.round(minutes * 60).astype(np.int64) * 1_000_000

    # Rate codes: most JFK trips run on the flat fare, Newark on its own code, a few fares are negotiated.
    ratecode = np.ones(n, dtype=np.int32)
    ratecode[jfk & (rng.random(n) < 0.7)] = 2
    ratecode[ewr] = 3
    ratecode[outer & (dist > 12) & (rng.random(n) < 0.1)] = 4
    ratecode[rng.random(n) < 0.004] = 5

    metered = 3.00 + 2.50 * dist + 0.35 * minutes
    fare = np.select(
        [ratecode == 2, ratecode == 3, ratecode == 4, ratecode == 5],
        [np.full(n, 70.0), metered + 20.0, metered * 1.3, np.round(rng.uniform(20, 120, size=n))],
        metered,
    )
    fare = _cents(fare)

    rush = ~weekend & (hour >= 16) & (hour < 20)
    overnight = (hour >= 20) | (hour < 6)
    extra = np.select([rush, overnight], [2.50, 1.00], 0.0)
    mta_tax = np.full(n, 0.50)
    improvement = np.full(n, 1.00)
    congestion = np.where(_CORE[pu] | _CORE[do], 2.50, 0.0)
    airport_fee = np.where((pu == JFK) | (pu == LGA), 1.75, 0.0)
    toll_p = np.where(airport, 0.45, np.where(dist > 8, 0.25, 0.01))
    tolls = np.where(rng.random(n) < toll_p, np.where(ewr, 17.38, 6.94), 0.0)

    payment = (rng.choice(4, size=n, p=[0.76, 0.21, 0.015, 0.015]) + 1).astype(np.int32)
    # Card riders pick a suggested tip (20/25/30%) or type their own; about one in ten leaves nothing.
    # Cash tips never reach the meter, so they are recorded as zero.
    suggested = rng.choice(np.array([0.20, 0.25, 0.30]), size=n, p=[0.6, 0.25, 0.15])
    custom = rng.normal(0.17, 0.05, size=n).clip(0.05, 0.5)
    rate = np.where(rng.random(n) < 0.3, custom, suggested) * (rng.random(n) >= 0.1)
    tip = _cents(np.where(payment == 1, rate * (fare + extra + congestion + tolls), 0.0))
    total = _cents(fare + extra + mta_tax + tip + tolls + improvement + congestion + airport_fee)

    vendor = np.where(rng.random(n) < 0.25, 1, 2).astype(np.int32)
    # Only vendor 1's meters store and forward, and rarely.
    stored = (vendor == 1) & (rng.random(n) < 0.02)
    passengers = rng.choice(7, size=n, p=[0.015, 0.74, 0.14, 0.035, 0.02, 0.03, 0.02]).astype(np.int32)

    return [
        pa.array(vendor),
        pa.array(pickup, type=pa.int64()).view(_TS),
        pa.array(dropoff, type=pa.int64()).view(_TS),
        pa.array(passengers),
        pa.array(dist),
        pa.array(ratecode),
        _flags(stored),
        pa.array(pu.astype(np.int32)),
        pa.array(do.astype(np.int32)),
        pa.array(payment),
        pa.array(fare),
        pa.array(extra),
        pa.array(mta_tax),
        pa.array(tip),
        pa.array(tolls),
        pa.array(improvement),
        pa.array(total),
        pa.array(congestion),
        pa.array(airport_fee),
    ]


def _flags(yes: np.ndarray) -> pa.Array:
    """'Y'/'N' strings built straight from buffers: one byte per value, no Python objects."""
    offsets = np.arange(yes.size + 1, dtype=np.int32)
    chars = np.where(yes, ord("Y"), ord("N")).astype(np.uint8)
    return pa.StringArray.from_buffers(yes.size, pa.py_buffer(offsets), pa.py_buffer(chars))


def generate_trips(
    rows: int, seed: int = 42, start: date = date(2024, 1, 1), batch_rows: int = 250_000, *, days: int = 31,
) -> Iterator[pa.RecordBatch]:
    """Yield ``rows`` trips with pickups spread over ``days`` days from ``start``, in batches of ``batch_rows``.

    The same ``(rows, seed, start, days)`` always gives the same rows, whatever ``batch_rows`` is.
    """
    if rows < 0 or batch_rows <= 0 or days <= 0:
        raise ValueError("rows must be >= 0, batch_rows and days > 0")
    slot_p, slot_wd = _slot_weights(start, days)
    start_us = int((datetime.combine(start, datetime.min.time()) - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for index, offset in enumerate(range(0, rows, _CHUNK_ROWS)):
        rng = np.random.default_rng([seed, index])
        n = min(_CHUNK_ROWS, rows - offset)
        pending.append(pa.RecordBatch.from_arrays(_chunk(rng, n, start_us, slot_p, slot_wd), schema=SAMPLE_SCHEMA))
        pending_rows += n
        while pending_rows >= batch_rows:
            batch, pending = _take(pending, batch_rows)
            pending_rows -= batch_rows
            yield batch
    if pending_rows:
        yield _take(pending, pending_rows)[0]


def _take(batches: list[pa.RecordBatch], n: int) -> tuple[pa.RecordBatch, list[pa.RecordBatch]]:
    """Split the first ``n`` (> 0) rows off a list of batches, as one contiguous batch."""
    table = pa.Table.from_batches(batches, schema=SAMPLE_SCHEMA)
    head = table.slice(0, n).combine_chunks().to_batches()[0]
    return head, [b for b in table.slice(n).to_batches() if b.num_rows]


# --- loading ---------------------------------------------------------------------------------------------------

# The table as stored: timestamps naive (DuckDB TIMESTAMP, since a TIMESTAMPTZ would shift hours with the session
# time zone; ClickHouse DateTime64(6, 'UTC')), and sorted by pickup time in ClickHouse, the filter most queries use.
_STORED = {**_NEUTRAL, _TS: Timestamp(tz=None)}
_SORT_BY = ("tpep_pickup_datetime",)


def _table_columns() -> list[Column]:
    return [Column(name, _STORED[typ], nullable=False, description=doc) for name, typ, doc in _FIELDS]


def sample_database(engine: Engine) -> str:
    """Where the sample table lives: the sample dataset's database, the engine's default one (DuckDB's ``main``
    schema, ClickHouse's ``default`` database), so the examples name the table unqualified."""
    return engine_database(engine.name, SAMPLE_DATASET)


def ensure_sample_loaded(engine: Engine, rows: int, seed: int = 42) -> bool:
    """Load ``rows`` sample trips unless the table already has them. Returns True when it loaded.

    The rows land in a staging table that replaces the visible one in a single step, so a failure or crash
    mid-load leaves the previous table (or none), never a partial one. ``rows <= 0`` loads nothing.
    """
    if rows <= 0:
        return False
    db = sample_database(engine)
    if engine.table_exists(db, SAMPLE_TABLE) and _is_current(engine, db, rows):
        return False
    started = time.perf_counter()
    # Through the engine, so a ClickHouse cluster gets its replicated and Distributed tables (and IF EXISTS also
    # clears a half-made pair a crash left behind).
    engine.drop_table(db, STAGING_TABLE)
    engine.create_table(db, STAGING_TABLE, _table_columns(), if_not_exists=False, sort_by=_SORT_BY)
    try:
        for batch in generate_trips(rows, seed):
            engine.insert_arrow(db, STAGING_TABLE, pa.Table.from_batches([batch]))
        engine.swap_in(db, STAGING_TABLE, SAMPLE_TABLE, replace=True)
    except BaseException:
        with contextlib.suppress(Exception):         # the load's own error is the one worth reporting
            engine.drop_table(db, STAGING_TABLE)
        raise
    log.debug("loaded %d sample rows into %s.%s.%s in %.2fs",
              rows, engine.name, db, SAMPLE_TABLE, time.perf_counter() - started)
    return True


def _is_current(engine: Engine, db: str, rows: int) -> bool:
    """Same columns and row count as asked for; a schema change in this module forces a reload."""
    table = f"{db}.{SAMPLE_TABLE}"
    head = list(engine.execute(f"SELECT * FROM {table} LIMIT 0", query_tag=_TAG))
    if not head or head[0].schema.names != SAMPLE_SCHEMA.names:
        return False
    count = [b for b in engine.execute(f"SELECT count(*) AS n FROM {table}", query_tag=_TAG) if b.num_rows]
    return bool(count) and count[0].column(0)[0].as_py() == rows

