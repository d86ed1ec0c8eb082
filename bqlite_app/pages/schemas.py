"""Placeholder for /schemas (helper E builds it)."""

import reflex as rx

from bqlite_app.components.layout import page_layout


@rx.page(route="/schemas", title="Schemas · BigQuery-Lite")
def schemas_page() -> rx.Component:
    return page_layout(rx.heading("Schemas"))
