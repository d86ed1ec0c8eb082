"""Small pieces several pages show the same way: a job's status badge, a back link, a code panel, error callouts."""

from __future__ import annotations

import reflex as rx

# One palette for a job's status wherever it appears (the workspace adds its own two transient states).
STATUS_COLORS = {"queued": "gray", "running": "blue", "completed": "green", "failed": "red", "cancelled": "orange",
                 "submitting": "blue", "loading": "gray"}


def status_badge(status: rx.Var[str] | str, *, size: str = "1", spinner: bool = True,
                 label: str | None = None) -> rx.Component:
    """A job's status; ``spinner`` turns while it runs (off where the page shows its own), ``label`` names it."""
    color = rx.match(status, *STATUS_COLORS.items(), "gray")
    props = {"aria_label": label} if label else {}
    return rx.badge(
        rx.cond(status == "running", rx.spinner(size="1"), rx.fragment()) if spinner else rx.fragment(),
        status, color_scheme=color, variant="soft", size=size, radius="full",  # type: ignore[arg-type]
        **props,
    )


def back_link(label: str, href: str) -> rx.Component:
    return rx.link(rx.hstack(rx.icon("arrow-left", size=14), label, spacing="1", align="center"), href=href, size="2")


def code_panel(text: rx.Var[str], label: str, max_height: str = "22em") -> rx.Component:
    """Read-only code (SQL, DDL, a plan, a .proto) that wraps, scrolls, and is announced as ``label``."""
    return rx.box(
        rx.el.pre(text, margin="0", white_space="pre-wrap", word_break="break-word",
                  font_family="var(--code-font-family)", font_size="13px", line_height="1.5"),
        aria_label=label, role="region", padding="0.75em 1em", background="var(--gray-a2)",
        border="1px solid var(--gray-a5)", border_radius="var(--radius-2)", overflow="auto", max_height=max_height,
        width="100%",
    )


def error_callout(title: rx.Var[str], lines: rx.Var[list[str]]) -> rx.Component:
    """A readable error, shown while ``title`` is set: the title, then the detail line by line (protoc positions,
    breaking changes, a file that did not parse)."""
    return rx.cond(
        title != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("circle-alert")),
            rx.vstack(
                rx.text(title, weight="bold", size="2"),
                rx.el.pre(rx.foreach(lines, lambda line: rx.el.div(line)), margin="0", white_space="pre-wrap",
                          word_break="break-word", font_family="var(--code-font-family)", font_size="12px"),
                spacing="1", width="100%",
            ),
            color_scheme="red", role="alert", width="100%", size="1",
        ),
    )


def error_note(message: rx.Var[str]) -> rx.Component:
    """A one-line error, shown while ``message`` is set."""
    return rx.cond(message != "", rx.callout(message, icon="circle-alert", color_scheme="red", size="1",
                                             role="alert", width="100%"))
