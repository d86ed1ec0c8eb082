"""Example queries on the ``nyc_taxi`` sample table, served by ``GET /examples``.

Each example exists once per engine. Where a portable form exists (``extract``, ``CAST(... AS DATE)``,
``date_diff``, window functions, CTEs) both engines share the same SQL; only percentiles and weekday functions need
dialect variants. Engines round ties differently (ClickHouse to even, DuckDB away from zero), so ``round`` is kept
to averages and sums, where exact ties are rare, and both engines print the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("duckdb", "clickhouse")


@dataclass(frozen=True)
class Example:
    title: str
    description: str
    sql: str
    engine: str


def _both(title: str, description: str, sql: str) -> list[Example]:
    return [Example(title, description, sql.strip(), engine) for engine in ENGINES]


def _each(title: str, description: str, *, duckdb: str, clickhouse: str) -> list[Example]:
    return [Example(title, description, duckdb.strip(), "duckdb"),
            Example(title, description, clickhouse.strip(), "clickhouse")]


_HOURLY = """
SELECT
    extract(hour FROM tpep_pickup_datetime) AS pickup_hour,
    count(*) AS trips,
    round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct_of_trips,
    round(avg(fare_amount), 2) AS avg_fare,
    round(sum(total_amount), 2) AS revenue
FROM nyc_taxi
GROUP BY pickup_hour
ORDER BY pickup_hour
"""

_WEEKDAYS = """
WITH by_hour AS (
    SELECT
        {weekday} AS weekday,
        {day_name} AS day_name,
        extract(hour FROM tpep_pickup_datetime) AS pickup_hour,
        count(*) AS trips,
        count(DISTINCT CAST(tpep_pickup_datetime AS DATE)) AS n_days
    FROM nyc_taxi
    GROUP BY weekday, day_name, pickup_hour
)
SELECT
    weekday,
    day_name,
    max(n_days) AS days,
    sum(trips) / max(n_days) AS trips_per_day,
    {arg_max}(pickup_hour, trips) AS busiest_hour,
    round(100.0 * sum(CASE WHEN pickup_hour >= 18 THEN trips ELSE 0 END) / sum(trips), 1) AS evening_pct
FROM by_hour
GROUP BY weekday, day_name
ORDER BY weekday
"""

_TIPS = """
SELECT
    payment_type,
    CASE payment_type
        WHEN 1 THEN 'Credit card'
        WHEN 2 THEN 'Cash'
        WHEN 3 THEN 'No charge'
        WHEN 4 THEN 'Dispute'
        ELSE 'Other'
    END AS payment,
    count(*) AS trips,
    round(avg(tip_amount), 2) AS avg_tip,
    round(100.0 * sum(tip_amount) / sum(fare_amount), 1) AS tip_pct_of_fare,
    round(100.0 * avg(CASE WHEN tip_amount > 0 THEN 1 ELSE 0 END), 1) AS pct_trips_tipped
FROM nyc_taxi
GROUP BY payment_type
ORDER BY trips DESC
"""

# DuckDB's quantile_cont and ClickHouse's quantileExactInclusive both interpolate linearly,
# so the two engines print identical percentiles.
_PERCENTILES = """
SELECT
    CASE
        WHEN trip_distance < 1 THEN '1: under 1 mi'
        WHEN trip_distance < 3 THEN '2: 1-3 mi'
        WHEN trip_distance < 7 THEN '3: 3-7 mi'
        WHEN trip_distance < 15 THEN '4: 7-15 mi'
        ELSE '5: 15+ mi'
    END AS distance_band,
    count(*) AS trips,
    round({p50}, 2) AS median_fare,
    round({p90}, 2) AS p90_fare,
    round({p99}, 2) AS p99_fare,
    round(max(fare_amount), 2) AS max_fare
FROM nyc_taxi
GROUP BY distance_band
ORDER BY distance_band
"""

_AIRPORTS = """
SELECT
    CASE WHEN PULocationID = 132 OR DOLocationID = 132 THEN 'JFK' ELSE 'LaGuardia' END AS airport,
    CASE WHEN PULocationID IN (132, 138) THEN 'from airport' ELSE 'to airport' END AS direction,
    count(*) AS trips,
    round(avg(trip_distance), 1) AS avg_miles,
    round(avg(date_diff('second', tpep_pickup_datetime, tpep_dropoff_datetime)) / 60, 1) AS avg_minutes,
    round(avg(total_amount), 2) AS avg_total,
    round(100.0 * avg(CASE WHEN tolls_amount > 0 THEN 1 ELSE 0 END), 1) AS pct_with_tolls,
    round(sum(airport_fee), 2) AS airport_fees
FROM nyc_taxi
WHERE PULocationID IN (132, 138) OR DOLocationID IN (132, 138)
GROUP BY airport, direction
ORDER BY airport, direction
"""

# CAST(... AS DATE) rather than date_trunc: both engines then return a plain DATE (ClickHouse's date_trunc keeps
# the column's time zone, DuckDB's a naive timestamp).
_RUNNING = """
SELECT
    CAST(tpep_pickup_datetime AS DATE) AS day,
    count(*) AS trips,
    round(sum(total_amount), 2) AS revenue,
    round(sum(sum(total_amount)) OVER (ORDER BY CAST(tpep_pickup_datetime AS DATE)), 2) AS running_revenue,
    round(avg(sum(total_amount)) OVER (
        ORDER BY CAST(tpep_pickup_datetime AS DATE) ROWS BETWEEN 6 PRECEDING AND CURRENT ROW
    ), 2) AS revenue_7day_avg
FROM nyc_taxi
GROUP BY CAST(tpep_pickup_datetime AS DATE)
ORDER BY day
"""

_ZONE_RANK = """
WITH zone_hours AS (
    SELECT
        extract(hour FROM tpep_pickup_datetime) AS pickup_hour,
        PULocationID AS zone,
        count(*) AS trips
    FROM nyc_taxi
    GROUP BY pickup_hour, zone
),
ranked AS (
    SELECT
        pickup_hour,
        zone,
        trips,
        rank() OVER (PARTITION BY pickup_hour ORDER BY trips DESC, zone) AS zone_rank
    FROM zone_hours
)
SELECT pickup_hour, zone_rank, zone, trips
FROM ranked
WHERE zone_rank <= 3
ORDER BY pickup_hour, zone_rank
"""

_SPEED = """
WITH trips AS (
    SELECT
        extract(hour FROM tpep_pickup_datetime) AS pickup_hour,
        trip_distance,
        date_diff('second', tpep_pickup_datetime, tpep_dropoff_datetime) AS seconds
    FROM nyc_taxi
    WHERE PULocationID NOT IN (1, 132, 138) AND DOLocationID NOT IN (1, 132, 138)
)
SELECT
    pickup_hour,
    count(*) AS trips,
    round(avg(seconds) / 60, 1) AS avg_minutes,
    round(sum(trip_distance) / (sum(seconds) / 3600.0), 1) AS avg_mph
FROM trips
GROUP BY pickup_hour
ORDER BY pickup_hour
"""

EXAMPLES: list[Example] = [
    *_both(
        "Trips and revenue by hour",
        "Demand over the day: the quiet hours before dawn, the evening rush, and each hour's share of all trips "
        "(a window over an aggregate).",
        _HOURLY,
    ),
    *_each(
        "Weekly rhythm",
        "Trips per day for each weekday, its busiest hour and how much of it happens after 6 pm (a CTE over "
        "weekday x hour buckets).",
        duckdb=_WEEKDAYS.format(
            weekday="isodow(tpep_pickup_datetime)", day_name="dayname(tpep_pickup_datetime)", arg_max="arg_max"),
        clickhouse=_WEEKDAYS.format(
            weekday="toDayOfWeek(tpep_pickup_datetime)", day_name="dateName('weekday', tpep_pickup_datetime)",
            arg_max="argMax"),
    ),
    *_both(
        "Tip rate by payment type",
        "Card riders tip around 20% of the fare; cash tips never reach the meter.",
        _TIPS,
    ),
    *_each(
        "Fare percentiles by distance",
        "Median, 90th and 99th percentile fares for each distance band.",
        duckdb=_PERCENTILES.format(**{f"p{n}": f"quantile_cont(fare_amount, 0.{n})" for n in (50, 90, 99)}),
        clickhouse=_PERCENTILES.format(
            **{f"p{n}": f"quantileExactInclusive(0.{n})(fare_amount)" for n in (50, 90, 99)}),
    ),
    *_both(
        "Airport trips",
        "Trips to and from JFK (zone 132) and LaGuardia (zone 138): longer, pricier, often tolled, and pickups pay "
        "the airport fee.",
        _AIRPORTS,
    ),
    *_both(
        "Daily revenue with running total",
        "Revenue per day, its running total and a 7-day moving average (window functions over daily buckets).",
        _RUNNING,
    ),
    *_both(
        "Busiest pickup zones in each hour",
        "The top three pickup zones for every hour of the day, ranked with rank() inside each hour.",
        _ZONE_RANK,
    ),
    *_both(
        "Rush-hour slowdown",
        "Average trip time and speed by hour for trips within the city: traffic crawls at midday and in the "
        "evening rush.",
        _SPEED,
    ),
]


def examples_for(engine: str | None = None) -> list[dict[str, str]]:
    """The examples for one engine, or all of them when ``engine`` is None, as ``GET /examples`` and the workspace's
    examples panel show them: ``{"title", "description", "sql", "engine"}``."""
    return [{"title": e.title, "description": e.description, "sql": e.sql, "engine": e.engine}
            for e in EXAMPLES if engine is None or e.engine == engine]
