"""/jobs: the job history, newest first, updating live while the page is open."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.controls import labelled_select, pager
from bqlite_app.components.layout import page_layout
from bqlite_app.components.widgets import error_note, status_badge
from bqlite_app.state.auth import AuthState
from bqlite_app.state.jobs import ENGINES, STATUSES, JobRow, JobsState

ENGINE_LABELS = {"all": "All engines", "duckdb": "DuckDB", "clickhouse": "ClickHouse"}


def toolbar() -> rx.Component:
    statuses = [(s, "All statuses" if s == "all" else s.capitalize()) for s in STATUSES]
    engines = [(e, ENGINE_LABELS.get(e, e)) for e in ENGINES]
    return rx.hstack(
        rx.input(
            rx.input.slot(rx.icon("search", size=16)),
            placeholder="Search SQL…", value=JobsState.search, on_change=JobsState.set_search.debounce(300),
            aria_label="Search SQL", width="22em", size="2",
        ),
        labelled_select("Status", statuses, JobsState.status_filter, JobsState.set_status_filter, variant="surface",
                        min_width="9em"),
        labelled_select("Engine", engines, JobsState.engine_filter, JobsState.set_engine_filter, variant="surface",
                        min_width="9em"),
        rx.button(rx.icon("x", size=14), "Clear", variant="ghost", size="2", on_click=JobsState.clear_filters,
                  aria_label="Clear filters"),
        rx.spacer(),
        pager(JobsState),
        align="center", spacing="3", width="100%", wrap="wrap",
    )


def job_row(row: JobRow) -> rx.Component:
    href = "/jobs/" + row.job_id
    return rx.table.row(
        rx.table.cell(status_badge(row.status)),
        rx.table.cell(rx.link(row.job_id, href=href, font_family="var(--code-font-family)", size="2",
                              white_space="nowrap")),
        rx.table.cell(rx.link(rx.hstack(
                                  # Load jobs (BigQuery's load jobs, the explorer's "Load data") read as such.
                                  rx.cond(row.kind == "load", rx.badge("load", color_scheme="iris", size="1")),
                                  rx.text(row.sql, font_family="var(--code-font-family)", size="1", trim="both"),
                                  spacing="2", align="center"),
                              href=href, color="var(--gray-12)", underline="none"),
                      max_width="0", width="100%", overflow="hidden", text_overflow="ellipsis",
                      white_space="nowrap"),
        rx.table.cell(rx.code(row.engine, variant="ghost", size="1")),
        rx.cond(AuthState.is_admin, rx.table.cell(row.user, white_space="nowrap")),
        rx.table.cell(row.created, white_space="nowrap"),
        rx.table.cell(row.duration, white_space="nowrap", text_align="right"),
        rx.table.cell(row.rows, text_align="right"),
        rx.table.cell(row.bytes, white_space="nowrap", text_align="right"),
        align="center", aria_label="Job " + row.job_id,
    )


def jobs_table() -> rx.Component:
    def header(name: str, align: str = "left") -> rx.Component:
        return rx.table.column_header_cell(name, text_align=align, white_space="nowrap")

    return rx.table.root(
        rx.table.header(rx.table.row(
            *[header(name) for name in ("Status", "Job ID", "Query", "Engine")],
            # Admins see everyone's jobs, so they need to know whose each one is.
            rx.cond(AuthState.is_admin, header("User")),
            header("Created"), *[header(name, "right") for name in ("Duration", "Rows", "Bytes")])),
        rx.table.body(rx.foreach(JobsState.rows, job_row)),
        size="1", variant="surface", width="100%", aria_label="Job history", table_layout="auto",
    )


def empty_state() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon("history", size=28, color="var(--gray-9)"),
            rx.text("No jobs match these filters.", color_scheme="gray"),
            rx.link("Run a query in the workspace", href="/"),
            align="center", spacing="2",
        ),
        padding="3em", width="100%",
    )


@rx.page(route="/jobs", title="Jobs · BigQuery-Lite", on_load=AuthState.check_login)
def jobs_page() -> rx.Component:
    return page_layout(
        rx.vstack(
            rx.hstack(
                rx.heading("Job history", size="5", weight="medium"),
                rx.badge("live", color_scheme="green", variant="outline", size="1", radius="full"),
                align="center", spacing="3",
            ),
            rx.text("Every query runs as a job. This list follows them as they move from queued to running to done.",
                    size="2", color_scheme="gray"),
            toolbar(),
            error_note(JobsState.load_error),
            rx.cond(JobsState.loaded & (JobsState.total == 0), empty_state(), jobs_table()),
            spacing="3", width="100%", max_width="1400px", margin_x="auto",
            on_mount=JobsState.start_watching, on_unmount=JobsState.stop_watching,
        ),
        title="Jobs",
    )
