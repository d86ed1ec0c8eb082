"""The SQL workspace at ``/`` (helper D builds it; this placeholder keeps the app running meanwhile)."""

import reflex as rx

from bqlite_app.components.layout import page_layout


@rx.page(route="/", title="BigQuery-Lite")
def workspace() -> rx.Component:
    return page_layout(rx.text("The app is running. SQL runs as jobs on DuckDB and ClickHouse."))
