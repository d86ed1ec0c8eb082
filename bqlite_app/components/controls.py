"""Small form controls shared by the pages and toolbars."""

from __future__ import annotations

from typing import Any

import reflex as rx

Items = list[str] | list[tuple[str, str]] | rx.Var


def labelled_select(label: str, items: Items, value: rx.Var, on_change: Any, *, size: str = "2",
                    **trigger: Any) -> rx.Component:
    """A Radix select whose trigger carries ``label`` as its accessible name (and as the placeholder while nothing
    is chosen). ``items`` are values, (value, text) pairs, or a list var of values; ``trigger`` styles the trigger.
    """
    if isinstance(items, rx.Var):
        options: Any = rx.foreach(items, lambda item: rx.select.item(item, value=item))
    else:
        pairs = [item if isinstance(item, tuple) else (item, item) for item in items]
        options = [rx.select.item(text, value=key) for key, text in pairs]
    trigger.setdefault("placeholder", label)
    return rx.select.root(
        # On the trigger, not the root: ``rx.select.root(aria_label=...)`` does not reach the button.
        rx.select.trigger(custom_attrs={"aria-label": label}, **trigger),
        rx.select.content(options),
        value=value, on_change=on_change, size=size,
    )


def pager(state: Any) -> rx.Component:
    """``1–50 of 1,234`` with previous/next buttons, for a state built on ``state.paging.PagingMixin`` that has
    ``previous_page`` and ``next_page`` events."""
    return rx.fragment(
        rx.text(state.range_label, size="2", color_scheme="gray"),
        rx.icon_button(rx.icon("chevron-left", size=16), variant="soft", size="2", aria_label="Previous page",
                       disabled=~state.has_previous, on_click=state.previous_page),
        rx.icon_button(rx.icon("chevron-right", size=16), variant="soft", size="2", aria_label="Next page",
                       disabled=~state.has_next, on_click=state.next_page),
    )
