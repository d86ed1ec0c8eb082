"""Small form controls shared by the workspace's toolbars."""

from __future__ import annotations

from typing import Any

import reflex as rx

Items = list[str] | list[tuple[str, str]] | rx.Var


def select_control(items: Items, value: rx.Var, on_change: Any, label: str, **trigger: Any) -> rx.Component:
    """A Radix select whose trigger carries the accessible name (``rx.select`` puts ``aria_label`` on the root).

    ``items`` are values, (value, label) pairs, or a list var of values.
    """
    if isinstance(items, rx.Var):
        options: Any = rx.foreach(items, lambda item: rx.select.item(item, value=item))
    else:
        pairs = [item if isinstance(item, tuple) else (item, item) for item in items]
        options = [rx.select.item(text, value=key) for key, text in pairs]
    return rx.select.root(
        rx.select.trigger(aria_label=label, **trigger),
        rx.select.content(options),
        value=value, on_change=on_change, size="1",
    )
