"""Input boxes for the query's ``@name`` parameters, under the editor: a type and a value for each.

The names come from the editor's text (``state/params.py``); Run and the dry run send the values as typed parameters
the engine binds. An empty box is NULL (for STRING, the empty string).
"""

from __future__ import annotations

import reflex as rx

from bqlite_app.state.params import PARAM_TYPES
from bqlite_app.state.workspace import WorkspaceState

_PLACEHOLDERS = {"STRING": "text", "INT64": "e.g. 42", "FLOAT64": "e.g. 2.5", "NUMERIC": "e.g. 9.99",
                 "BOOL": "true or false", "DATE": "YYYY-MM-DD", "DATETIME": "YYYY-MM-DD HH:MM:SS",
                 "TIME": "HH:MM:SS", "TIMESTAMP": "YYYY-MM-DD HH:MM:SS+00:00", "JSON": '{"k": 1}'}


def _parameter(row: rx.Var) -> rx.Component:
    name = row["name"].to(str)
    return rx.hstack(
        rx.code("@" + name, size="1", variant="ghost", weight="medium"),
        rx.select.root(
            rx.select.trigger(custom_attrs={"aria-label": "Type of @" + name}, width="7.5em"),
            rx.select.content(*[rx.select.item(typ, value=typ) for typ in PARAM_TYPES]),
            value=row["type"].to(str), on_change=WorkspaceState.set_param_type(name), size="1",
        ),
        rx.input(
            value=row["value"].to(str), size="1", width="13em",
            placeholder=rx.match(row["type"].to(str), *_PLACEHOLDERS.items(), "value"),
            on_change=WorkspaceState.set_param_value(name).debounce(300),
            aria_label="Value of @" + name,
        ),
        align="center", spacing="1", padding_y="2px",
    )


def param_inputs() -> rx.Component:
    """Nothing when the SQL has no ``@name``; else one row of boxes per parameter (wrapping)."""
    return rx.cond(
        WorkspaceState.param_rows.length() > 0,
        rx.hstack(
            rx.hstack(rx.icon("variable", size=14, color="var(--gray-10)"),
                      rx.text("Parameters", size="1", color="var(--gray-11)", weight="medium"),
                      align="center", spacing="1"),
            rx.foreach(WorkspaceState.param_rows, _parameter),
            role="group", aria_label="Query parameters", align="center", spacing="4", wrap="wrap",
            width="100%", padding_x="0.75em", padding_y="0.3em", border_top="1px solid var(--gray-a4)",
            background="var(--gray-1)", flex_shrink="0",
        ),
    )
