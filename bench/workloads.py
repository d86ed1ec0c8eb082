"""Heavy analytical queries on the 1M-row sample (DuckDB dialect), for the job-overhead benchmark.

Each one scans the whole table and does real work (windows over every row, joins, percentiles, distinct counts),
the kind of query a dashboard or an analyst runs, not a lookup.
"""

HEAVY_QUERIES = [
    # Fare percentiles for every pickup zone.
    "SELECT PULocationID, quantile_cont(fare_amount, [0.5, 0.9, 0.99]) AS fare_pcts, "
    "quantile_cont(trip_distance, 0.5) AS median_miles FROM nyc_taxi GROUP BY PULocationID ORDER BY PULocationID",
    # The three most expensive trips from each zone.
    "SELECT * FROM (SELECT PULocationID, DOLocationID, fare_amount, tpep_pickup_datetime, "
    "rank() OVER (PARTITION BY PULocationID ORDER BY fare_amount DESC) AS r FROM nyc_taxi) WHERE r <= 3 "
    "ORDER BY PULocationID, r",
    # Minutes between consecutive pickups in each zone, by hour of day.
    "SELECT hour(tpep_pickup_datetime) AS hour, avg(gap_s) / 60 AS avg_gap_min, quantile_cont(gap_s, 0.9) AS p90_s "
    "FROM (SELECT tpep_pickup_datetime, epoch(tpep_pickup_datetime) - epoch(lag(tpep_pickup_datetime) OVER "
    "(PARTITION BY PULocationID ORDER BY tpep_pickup_datetime)) AS gap_s FROM nyc_taxi) "
    "WHERE gap_s IS NOT NULL GROUP BY hour ORDER BY hour",
    # Each trip against its route's average fare: a join of 1M rows with an aggregate.
    "WITH routes AS (SELECT PULocationID, DOLocationID, avg(fare_amount) AS avg_fare, count(*) AS n "
    "FROM nyc_taxi GROUP BY ALL) SELECT t.payment_type, count(*) AS trips, "
    "avg(t.fare_amount - r.avg_fare) AS over_route_avg, sum(CASE WHEN t.fare_amount > 2 * r.avg_fare THEN 1 END) "
    "AS outliers FROM nyc_taxi t JOIN routes r USING (PULocationID, DOLocationID) WHERE r.n > 5 "
    "GROUP BY t.payment_type ORDER BY trips DESC",
    # Running revenue through the month, sampled hourly.
    "SELECT date_trunc('hour', tpep_pickup_datetime) AS hour, max(running) AS revenue_to_date FROM "
    "(SELECT tpep_pickup_datetime, sum(total_amount) OVER (ORDER BY tpep_pickup_datetime "
    "ROWS UNBOUNDED PRECEDING) AS running FROM nyc_taxi) GROUP BY hour ORDER BY hour",
    # Fare deciles and what drives them.
    "SELECT decile, count(*) AS trips, avg(trip_distance) AS miles, avg(tip_amount) AS tip, "
    "avg(tolls_amount) AS tolls FROM (SELECT *, ntile(10) OVER (ORDER BY total_amount) AS decile FROM nyc_taxi) "
    "GROUP BY decile ORDER BY decile",
    # Distinct routes and fares per weekday and hour.
    "SELECT dayofweek(tpep_pickup_datetime) AS dow, hour(tpep_pickup_datetime) AS hour, "
    "count(DISTINCT (PULocationID, DOLocationID)) AS routes, count(DISTINCT total_amount) AS distinct_totals "
    "FROM nyc_taxi GROUP BY ALL ORDER BY dow, hour",
    # Trip speed by distance band and hour, with medians.
    "SELECT least(floor(trip_distance), 30) AS miles, hour(tpep_pickup_datetime) AS hour, "
    "median(trip_distance / nullif(epoch(tpep_dropoff_datetime) - epoch(tpep_pickup_datetime), 0) * 3600) AS mph "
    "FROM nyc_taxi GROUP BY ALL ORDER BY miles, hour",
    # Each zone's share of its borough-like block of zones, per day.
    "SELECT day, PULocationID, trips, trips / sum(trips) OVER (PARTITION BY day, PULocationID // 50) AS share "
    "FROM (SELECT date_trunc('day', tpep_pickup_datetime) AS day, PULocationID, count(*) AS trips "
    "FROM nyc_taxi GROUP BY ALL) ORDER BY share DESC LIMIT 1000",
    # Tip rate by payment type, rate code and hour.
    "SELECT payment_type, RatecodeID, hour(tpep_pickup_datetime) AS hour, count(*) AS trips, "
    "sum(tip_amount) / nullif(sum(fare_amount), 0) AS tip_rate, stddev(tip_amount) AS tip_sd "
    "FROM nyc_taxi GROUP BY ALL ORDER BY ALL",
]

# Queries of about 0.1-1 s: the sample cross-joined 48 times (48M rows), aggregated. Issue 13 measured the job
# overhead on these; the per-query fixed cost matters most at this size.
CROSS_JOIN_QUERIES = [
    "SELECT PULocationID, count(*) AS n, avg(fare_amount + r.range) AS fare, sum(trip_distance) AS miles "
    "FROM nyc_taxi, range(48) r GROUP BY ALL ORDER BY PULocationID",
    "SELECT payment_type, min(total_amount - r.range) AS low, max(tip_amount * r.range) AS high, "
    "avg(trip_distance * r.range) AS miles FROM nyc_taxi, range(48) r GROUP BY ALL ORDER BY payment_type",
    "SELECT count(*) AS trips FROM nyc_taxi, range(48) r WHERE fare_amount > 10 + r.range",
    "SELECT hour(tpep_pickup_datetime) AS hour, sum(fare_amount + r.range) AS fares, "
    "avg(tip_amount) AS tip FROM nyc_taxi, range(48) r GROUP BY hour ORDER BY hour",
    "SELECT r.range % 8 AS bucket, RatecodeID, sum(total_amount) AS total, count(*) AS n "
    "FROM nyc_taxi, range(48) r GROUP BY ALL ORDER BY ALL",
]
