"""Heavy analytical queries on the 1M-row sample, shared by the job-overhead benchmark."""

HEAVY_QUERIES = [
    "SELECT payment_type, count(*) AS trips, avg(fare_amount) AS fare, avg(tip_amount / nullif(fare_amount, 0)) AS tip_rate "
    "FROM nyc_taxi GROUP BY payment_type ORDER BY trips DESC",
    "SELECT date_trunc('hour', tpep_pickup_datetime) AS hour, count(*) AS trips, sum(total_amount) AS revenue "
    "FROM nyc_taxi GROUP BY hour ORDER BY hour",
    "SELECT PULocationID, DOLocationID, count(*) AS trips, avg(trip_distance) AS miles FROM nyc_taxi "
    "GROUP BY PULocationID, DOLocationID ORDER BY trips DESC LIMIT 100",
    "SELECT extract(dow FROM tpep_pickup_datetime) AS dow, extract(hour FROM tpep_pickup_datetime) AS hour, "
    "count(*) AS trips FROM nyc_taxi GROUP BY dow, hour ORDER BY dow, hour",
    "SELECT PULocationID, quantile_cont(fare_amount, 0.5) AS p50, quantile_cont(fare_amount, 0.95) AS p95 "
    "FROM nyc_taxi GROUP BY PULocationID ORDER BY p95 DESC LIMIT 50",
    "SELECT day, trips, sum(trips) OVER (ORDER BY day) AS running_trips, "
    "avg(trips) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS trips_7d "
    "FROM (SELECT date_trunc('day', tpep_pickup_datetime) AS day, count(*) AS trips FROM nyc_taxi GROUP BY day) "
    "ORDER BY day",
    "SELECT * FROM (SELECT PULocationID, DOLocationID, fare_amount, "
    "rank() OVER (PARTITION BY PULocationID ORDER BY fare_amount DESC) AS r FROM nyc_taxi) WHERE r <= 3 "
    "ORDER BY PULocationID, r LIMIT 1000",
    "SELECT count(DISTINCT PULocationID * 1000 + DOLocationID) AS routes, approx_count_distinct(total_amount) "
    "AS amounts FROM nyc_taxi",
    "WITH trips AS (SELECT *, epoch(tpep_dropoff_datetime) - epoch(tpep_pickup_datetime) AS secs FROM nyc_taxi) "
    "SELECT round(trip_distance) AS miles, avg(secs) / 60 AS minutes, avg(trip_distance / nullif(secs, 0) * 3600) "
    "AS mph FROM trips WHERE trip_distance < 50 GROUP BY miles ORDER BY miles",
    "SELECT VendorID, RatecodeID, payment_type, sum(fare_amount) AS fare, sum(tip_amount) AS tips, "
    "sum(tolls_amount) AS tolls, sum(congestion_surcharge) AS congestion, sum(total_amount) AS total "
    "FROM nyc_taxi GROUP BY ALL ORDER BY total DESC",
]
