"""Landing page: the app is up, with pointers to the API. The SQL workspace replaces it (see the UI issue)."""

from __future__ import annotations

import reflex as rx

from bqlite_app.settings import get_settings


def _link_card(title: str, href: str, text: str) -> rx.Component:
    return rx.link(
        rx.card(rx.vstack(rx.heading(title, size="3"), rx.text(text, size="2", color_scheme="gray"))),
        href=href, is_external=True, underline="none",
    )


@rx.page(route="/", title="BigQuery-Lite")
def index() -> rx.Component:
    api = get_settings().api_url
    return rx.container(
        rx.vstack(
            rx.heading("BigQuery-Lite", size="8"),
            rx.text("The app is running. SQL runs as jobs on DuckDB and ClickHouse.", size="4"),
            rx.grid(
                _link_card("API docs", f"{api}/docs", "Swagger UI for the REST API"),
                _link_card("ReDoc", f"{api}/redoc", "The same API, as a reference"),
                _link_card("Status", f"{api}/status", "Slots, queue and engines"),
                _link_card("Examples", f"{api}/examples", "Sample queries on nyc_taxi"),
                columns="2", spacing="4", width="100%",
            ),
            rx.code_block(
                f'curl -s {api}/queries -H "content-type: application/json" \\\n'
                "  -d '{\"sql\": \"SELECT count(*) FROM nyc_taxi\"}'",
                language="bash", width="100%",
            ),
            spacing="5", padding_y="3em",
        ),
        size="3",
    )
