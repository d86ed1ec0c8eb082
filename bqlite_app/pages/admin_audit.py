"""/admin/audit: the audit trail, newest first, with filters and a check of its hash chain."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.admin import admin_page
from bqlite_app.components.controls import labelled_select, pager
from bqlite_app.state.audit import OUTCOMES, AuditRow, AuditState
from bqlite_app.state.auth import AuthState

OUTCOME_COLORS = {"ok": "green", "denied": "orange", "failed": "red"}


def filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(name="actor", placeholder="actor", aria_label="Actor", width="10em"),
            rx.input(name="action", placeholder="action, e.g. job.submit", aria_label="Action", width="14em"),
            rx.hstack(rx.text("since", size="1"), rx.input(name="since", type="datetime-local", aria_label="Since"),
                      rx.text("until", size="1"), rx.input(name="until", type="datetime-local", aria_label="Until"),
                      rx.text("(UTC)", size="1", color_scheme="gray"), align="center", spacing="1"),
            rx.button(rx.icon("filter", size=14), "Filter", type="submit", variant="soft"),
            # A reset button empties the (uncontrolled) inputs as the state forgets the filters.
            rx.button(rx.icon("x", size=14), "Clear", type="reset", variant="ghost", on_click=AuditState.clear_filters),
            spacing="2", align="center", wrap="wrap",
        ),
        on_submit=AuditState.apply_filters,
    )


def toolbar() -> rx.Component:
    return rx.hstack(
        labelled_select("Outcome", OUTCOMES, AuditState.outcome, AuditState.set_outcome),
        rx.button(rx.icon("shield-check", size=14), "Verify chain", on_click=AuditState.verify,
                  loading=AuditState.verifying),
        rx.cond(AuditState.verify_message != "",
                rx.badge(AuditState.verify_message, color_scheme=rx.cond(AuditState.verify_ok, "green", "red"),
                         size="2", role="status", aria_label="Chain verification")),
        rx.spacer(),
        pager(AuditState),
        spacing="3", align="center", width="100%", wrap="wrap",
    )


def event_row(event: AuditRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(event.id),
        rx.table.cell(event.ts, white_space="nowrap"),
        rx.table.cell(event.actor),
        rx.table.cell(rx.code(event.action, variant="ghost")),
        rx.table.cell(event.target, max_width="18em", overflow="hidden", text_overflow="ellipsis"),
        rx.table.cell(rx.badge(event.outcome, color_scheme=rx.match(event.outcome, *OUTCOME_COLORS.items(), "gray"))),
        rx.table.cell(event.client_ip),
        rx.table.cell(rx.text(event.detail, size="1", font_family="var(--code-font-family)")),
        align="center", aria_label="Audit event " + event.id.to_string(),
    )


@rx.page(route="/admin/audit", title="Audit log · BigQuery-Lite", on_load=[AuthState.check_login, AuditState.load])
def admin_audit_page() -> rx.Component:
    return admin_page(
        "Audit log",
        "Every sign-in, token, user and grant change, job, refusal, schema change, ingest and export, newest first. "
        "Each event's hash covers the one before it, so an edited or removed event breaks the chain.",
        filters(),
        toolbar(),
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                           ("#", "Time", "Actor", "Action", "Target", "Outcome", "Client",
                                            "Detail")])),
            rx.table.body(rx.foreach(AuditState.events, event_row)),
            size="1", variant="surface", width="100%", aria_label="Audit events",
        ),
    )
