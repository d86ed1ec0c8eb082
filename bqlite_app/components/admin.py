"""The frame of the admin pages: their own tabs, and a clear refusal for anyone without the admin role."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.layout import page_layout
from bqlite_app.components.widgets import error_note
from bqlite_app.state.admin import AdminState

SECTIONS = [("Users", "/admin/users", "users"), ("Datasets and grants", "/admin/datasets", "database"),
            ("Audit log", "/admin/audit", "scroll-text")]


def _section_link(label: str, href: str, icon: str) -> rx.Component:
    active = rx.State.router.url.path.startswith(href)
    return rx.link(
        rx.hstack(rx.icon(icon, size=14), rx.text(label, size="2"), spacing="1", align="center"),
        href=href, underline="none", padding_x="0.6em", padding_y="0.25em",
        border_bottom=rx.cond(active, "2px solid var(--accent-9)", "2px solid transparent"),
        color=rx.cond(active, "var(--gray-12)", "var(--gray-11)"),
    )


def admin_page(title: str, intro: str, *content: rx.Component, on_mount=None) -> rx.Component:
    """The page, or (for a non-admin) only the message that it needs the admin role."""
    return page_layout(
        rx.vstack(
            rx.hstack(*[_section_link(*s) for s in SECTIONS], spacing="3", border_bottom="1px solid var(--gray-a5)",
                      width="100%", aria_label="Admin sections"),
            rx.heading(title, size="5", weight="medium"),
            rx.cond(
                AdminState.denied != "",
                rx.callout(AdminState.denied, icon="shield-alert", color_scheme="orange", role="alert",
                           width="100%"),
                rx.vstack(
                    rx.text(intro, size="2", color_scheme="gray"),
                    error_note(AdminState.action_error),
                    *content,
                    spacing="3", width="100%",
                ),
            ),
            spacing="3", width="100%", max_width="1400px", margin_x="auto",
        ),
        title=title,
    )

