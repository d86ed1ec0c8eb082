"""/jobs/[job_id]: one job's SQL, timings, numbers, error, the execution graph of its run and its query plan, with
Re-run, Open in editor and Cancel."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.layout import page_layout
from bqlite_app.components.widgets import back_link, code_panel, error_note, status_badge
from bqlite_app.state.auth import AuthState
from bqlite_app.state.jobs import JobDetailState

JOB = JobDetailState.job


def fact(label: str, value: rx.Var | str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label, min_width="9em"),
        rx.data_list.value(value),
    )


def section(title: str, *children: rx.Component, **props) -> rx.Component:
    return rx.card(
        rx.vstack(rx.heading(title, size="3", weight="medium"), *children, spacing="3", width="100%"),
        width="100%", **props,
    )


def actions() -> rx.Component:
    return rx.hstack(
        rx.button(rx.icon("rotate-cw", size=15), "Re-run", on_click=JobDetailState.rerun, size="2",
                  aria_label="Re-run", loading=JobDetailState.acting_on == "rerun",
                  disabled=JobDetailState.acting_on != ""),
        rx.button(rx.link(rx.icon("square-pen", size=15), "Open in editor", href=JobDetailState.editor_url,
                          underline="none"), as_child=True, variant="soft", size="2"),
        rx.cond(
            JobDetailState.cancellable,
            rx.button(rx.icon("circle-stop", size=15), "Cancel", color_scheme="red", variant="soft", size="2",
                      on_click=JobDetailState.cancel, aria_label="Cancel job",
                      loading=JobDetailState.acting_on == "cancel", disabled=JobDetailState.acting_on != ""),
        ),
        spacing="2", align="center",
    )


def header() -> rx.Component:
    return rx.hstack(
        rx.vstack(
            back_link("Job history", "/jobs"),
            rx.hstack(
                rx.heading(JOB.job_id, size="5", weight="medium", font_family="var(--code-font-family)"),
                status_badge(JOB.status, size="2"),
                align="center", spacing="3",
            ),
            spacing="1",
        ),
        rx.spacer(),
        actions(),
        align="end", width="100%",
    )


def progress_line() -> rx.Component:
    return rx.cond(
        JOB.status == "running",
        rx.hstack(rx.progress(value=JOB.progress, max=100, width="16em", aria_label="Job progress"),
                  rx.text(JOB.progress.to_string() + "%", size="1", color_scheme="gray"), align="center"),
        rx.cond(JOB.queue_position != "", rx.text(JOB.queue_position, size="2", color_scheme="gray")),
    )


def details() -> rx.Component:
    return rx.grid(
        section("Timing", rx.data_list.root(
            fact("Created", JOB.created), fact("Started", JOB.started), fact("Finished", JOB.finished),
            fact("Waited in queue", JOB.waited), fact("Duration", JOB.duration),
            size="2",
        )),
        section("Execution", rx.data_list.root(
            fact("Engine", rx.code(JOB.engine, variant="ghost")),
            fact("User", rx.cond(JOB.user != "", JOB.user, "—")),
            fact("Priority", JOB.priority.to_string()), fact("Slots", JOB.slots.to_string()),
            fact("Time limit", JOB.max_execution_time),
            fact("Rows", JOB.rows), fact("Bytes processed", JOB.bytes),
            size="2",
        )),
        columns=rx.breakpoints(initial="1", md="2"), spacing="4", width="100%",
    )


def error_panel() -> rx.Component:
    return rx.cond(
        JOB.error != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-alert")),
            rx.vstack(
                rx.text(rx.cond(JOB.status == "cancelled", "Cancelled", "Error"), " ", JOB.error_position,
                        weight="bold", size="2"),
                rx.el.pre(JOB.error, white_space="pre-wrap", margin="0", font_family="var(--code-font-family)",
                          font_size="13px"),
                spacing="1",
            ),
            color_scheme=rx.cond(JOB.status == "cancelled", "orange", "red"), role="alert", width="100%",
        ),
    )


def plan_panel() -> rx.Component:
    return section(
        "Query plan",
        rx.cond(
            JobDetailState.plan_loading,
            rx.hstack(rx.spinner(size="2"), rx.text("Asking the engine for its plan…", size="2"), align="center"),
            rx.cond(
                JobDetailState.plan_error != "",
                rx.text("No plan: ", JobDetailState.plan_error, size="2", color_scheme="gray"),
                code_panel(JobDetailState.plan, "Query plan", max_height="30em"),
            ),
        ),
    )


def graph_row(row: rx.Var) -> rx.Component:
    """One operator: indented by its depth, a time bar of its share of the run; slow ones in red."""
    color = rx.cond(row.slow, "var(--red-11)", "var(--gray-12)")
    return rx.hstack(
        rx.box(width=row.indent, flex_shrink="0"),
        rx.icon("corner-down-right", size=14, color="var(--gray-8)", flex_shrink="0",
                visibility=rx.cond(row.depth > 0, "visible", "hidden")),
        rx.vstack(
            rx.hstack(
                rx.text(row.name, size="2", weight="bold", color=color, font_family="var(--code-font-family)"),
                rx.cond(row.slow, rx.badge("slow", color_scheme="red", variant="solid", size="1")),
                spacing="2", align="center",
            ),
            rx.text(row.detail, size="1", color_scheme="gray", title=row.detail, white_space="nowrap",
                    overflow="hidden", text_overflow="ellipsis", max_width="100%"),
            spacing="0", min_width="0", flex="1",
        ),
        rx.box(
            rx.box(width=row.bar, height="100%", border_radius="3px",
                   background=rx.cond(row.slow, "var(--red-9)", "var(--accent-9)")),
            width="10em", height="0.7em", background="var(--gray-a3)", border_radius="3px", flex_shrink="0",
            aria_hidden="true",
        ),
        rx.text(row.share, size="2", width="4.5em", text_align="right", weight=rx.cond(row.slow, "bold", "regular"),
                color=color, flex_shrink="0"),
        rx.text(row.time, size="2", width="6.5em", text_align="right", flex_shrink="0"),
        rx.text(row.rows, size="1", color_scheme="gray", width="9em", text_align="right", flex_shrink="0"),
        role="treeitem", aria_level=row.depth + 1, aria_label=row.name, data_slow=rx.cond(row.slow, "true", "false"),
        align="center", spacing="2", width="100%", padding_y="0.3em",
        border_bottom="1px solid var(--gray-a3)",
        background=rx.cond(row.slow, "var(--red-a2)", "transparent"),
    )


def graph_panel() -> rx.Component:
    return section(
        "Execution graph",
        rx.cond(
            JobDetailState.plan_loading,
            rx.hstack(rx.spinner(size="2"), rx.text("Reading the run's profile…", size="2"), align="center"),
            rx.cond(
                JobDetailState.graph_rows.length() > 0,
                rx.vstack(
                    rx.text(JobDetailState.graph_summary, " · time bars show each operator's share; operators "
                            "taking a quarter of the time or more are marked slow", size="1", color_scheme="gray"),
                    rx.vstack(rx.foreach(JobDetailState.graph_rows, graph_row), role="tree",
                              aria_label="Operators", spacing="0", width="100%"),
                    spacing="2", width="100%",
                ),
                rx.text(rx.cond(JobDetailState.graph_note != "", JobDetailState.graph_note, "No execution graph."),
                        size="2", color_scheme="gray"),
            ),
        ),
        role="region", aria_label="Execution graph",
    )


def found() -> rx.Component:
    return rx.vstack(
        header(),
        progress_line(),
        error_note(JobDetailState.action_error),
        error_panel(),
        section("SQL", code_panel(JOB.sql, "SQL"),
                rx.cond(JOB.parameters != "", rx.text("Parameters: ", JOB.parameters, size="1", color_scheme="gray",
                                                      aria_label="Query parameters")),
                rx.cond(JOB.labels != "", rx.text("Labels: ", JOB.labels, size="1", color_scheme="gray"))),
        details(),
        graph_panel(),
        plan_panel(),
        spacing="4", width="100%",
    )


def missing() -> rx.Component:
    return rx.vstack(
        back_link("Job history", "/jobs"),
        rx.callout(JobDetailState.not_found, icon="search-x", color_scheme="gray", width="100%"),
        spacing="3", width="100%",
    )


@rx.page(route="/jobs/[job_id]", title="Job · BigQuery-Lite", on_load=[AuthState.check_login, JobDetailState.load])
def job_detail_page() -> rx.Component:
    return page_layout(
        rx.box(
            rx.cond(JobDetailState.not_found != "", missing(), found()),
            width="100%", max_width="1200px", margin_x="auto", on_unmount=JobDetailState.stop_watching,
        ),
        title="Job",
    )
