"""The frame every page shares: navigation on top, the page in the middle, the status bar at the bottom."""

from __future__ import annotations

import reflex as rx
from reflex.config import get_config

from bqlite_app.components.status_bar import status_bar
from bqlite_app.components.user_menu import user_menu
from bqlite_app.state.auth import AuthState

NAV = [("Workspace", "/", "square-terminal"), ("Jobs", "/jobs", "list-checks"), ("Schemas", "/schemas", "boxes")]
ADMIN_NAV = [("Admin", "/admin/users", "shield", "/admin/")]
# The REST API the browser reaches (the same address its websocket uses).
API_URL = get_config().api_url.rstrip("/")


def _nav_link(label: str, href: str, icon: str, section: str = "") -> rx.Component:
    path = rx.State.router.url.path
    active = (path == "/") if href == "/" else path.startswith(section or href)
    return rx.link(
        rx.hstack(rx.icon(icon, size=15), rx.text(label, size="2", weight="medium"), spacing="2", align="center"),
        href=href, underline="none", padding_x="0.6em", padding_y="0.3em", border_radius="var(--radius-2)",
        color=rx.cond(active, "var(--accent-11)", "var(--gray-11)"),
        background=rx.cond(active, "var(--accent-a3)", "transparent"),
        _hover={"background": "var(--gray-a3)"},
    )


def navbar() -> rx.Component:
    return rx.hstack(
        rx.hstack(
            rx.icon("database-zap", size=20, color="var(--accent-9)"),
            rx.heading("BigQuery-Lite", size="3", weight="bold"),
            spacing="2", align="center", margin_right="1em",
        ),
        rx.el.nav(rx.hstack(*[_nav_link(*item) for item in NAV],
                            rx.cond(AuthState.is_admin, rx.fragment(*[_nav_link(*item) for item in ADMIN_NAV])),
                            spacing="1"), aria_label="Main"),
        rx.spacer(),
        rx.link(rx.hstack(rx.icon("book-open", size=14), rx.text("API docs", size="2"), spacing="1", align="center"),
                href=f"{API_URL}/docs", is_external=True, color="var(--gray-11)", underline="none"),
        rx.color_mode.button(size="1", variant="ghost", aria_label="Toggle dark mode"),
        user_menu(),
        align="center", spacing="3", padding_x="1em", height="48px", flex_shrink="0",
        border_bottom="1px solid var(--gray-a5)", background="var(--color-panel-solid)", width="100%",
    )


def page_layout(*children: rx.Component, title: str = "", full_bleed: bool = False) -> rx.Component:
    """Navigation on top, the page in the middle, the status bar at the bottom.

    Pages pass their content as children. ``full_bleed`` pages (the workspace) fill the middle edge to edge and
    scroll inside their own panels; the others get padding and scroll as a whole.
    """
    body = (
        rx.box(*children, width="100%", flex="1", min_height="0", overflow="hidden", display="flex")
        if full_bleed else
        rx.box(*children, width="100%", flex="1", min_height="0", padding="1em", overflow="auto")
    )
    return rx.vstack(
        navbar(),
        rx.el.main(body, aria_label=title or None, style={"display": "flex", "flex": "1", "min-height": "0",
                                                         "width": "100%"}),
        status_bar(),
        spacing="0", height="100vh", width="100%", overflow="hidden",
    )
