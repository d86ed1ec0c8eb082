"""Placeholder for /jobs (helper E builds it)."""

import reflex as rx

from bqlite_app.components.layout import page_layout


@rx.page(route="/jobs", title="Jobs · BigQuery-Lite")
def jobs_page() -> rx.Component:
    return page_layout(rx.heading("Jobs"))
