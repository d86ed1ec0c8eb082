"""Placeholder for /jobs/[job_id] (helper E builds it)."""

import reflex as rx

from bqlite_app.components.layout import page_layout


@rx.page(route="/jobs/[job_id]", title="Job · BigQuery-Lite")
def job_detail_page() -> rx.Component:
    return page_layout(rx.heading("Job"))
