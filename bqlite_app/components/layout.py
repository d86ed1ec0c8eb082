"""The frame every page shares: navigation, the status bar, and the page body. (Helper D refines the look.)"""

from __future__ import annotations

import reflex as rx

NAV = [("Workspace", "/"), ("Jobs", "/jobs"), ("Schemas", "/schemas")]


def navbar() -> rx.Component:
    return rx.hstack(
        rx.heading("BigQuery-Lite", size="4"),
        *[rx.link(label, href=href, size="2") for label, href in NAV],
        rx.spacer(),
        rx.color_mode.button(size="1", variant="ghost", aria_label="Toggle dark mode"),
        align="center", spacing="5", padding_x="1em", padding_y="0.6em", border_bottom="1px solid var(--gray-a5)",
        width="100%",
    )


def page_layout(*children: rx.Component, title: str = "") -> rx.Component:
    """Navigation on top, the page in the middle. Pages pass their content as children."""
    return rx.vstack(
        navbar(),
        rx.box(*children, width="100%", flex="1", padding="1em", overflow="auto"),
        spacing="0", height="100vh", width="100%",
    )
