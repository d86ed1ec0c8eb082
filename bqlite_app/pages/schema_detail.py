"""Placeholder for /schemas/[schema_id] (helper E builds it)."""

import reflex as rx

from bqlite_app.components.layout import page_layout


@rx.page(route="/schemas/[schema_id]", title="Schema · BigQuery-Lite")
def schema_detail_page() -> rx.Component:
    return page_layout(rx.heading("Schema"))
