"""BigQuery's own REST API v2, the fourth face over the core (docs/api.md, "BigQuery's own API"; docs/bigquery.md).

``app.mount_bigquery`` mounts the routes; ``schema`` and ``rows`` map BigQuery's types and rows, ``sql`` translates
GoogleSQL. Importing the package itself loads nothing, so the UI can use the type mapping alone.
"""
