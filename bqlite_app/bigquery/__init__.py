"""BigQuery's own REST API v2, the fourth face over the core (docs/api.md, "BigQuery's own API"; docs/bigquery.md).

``app.mount_bigquery`` mounts the routes; ``schema`` maps BigQuery's types to neutral columns (``schema_arrow`` to
Arrow, ``schema_proto`` from a .proto message), ``rows`` and ``json_rows`` its rows, ``sql`` translates GoogleSQL.
Importing the package itself loads nothing, so the UI can use the type mapping alone.
"""
