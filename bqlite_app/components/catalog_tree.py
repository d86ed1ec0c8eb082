"""The sidebar: the explorer tree (engines, databases, tables, columns) and the sample queries.

A click on a name inserts it into the editor at the cursor; the chevron beside it folds and unfolds.
"""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.load_dialog import load_data_dialog
from bqlite_app.components.saved_panel import saved_panel
from bqlite_app.state.catalog import CatalogState, ColumnNode, DatabaseNode, EngineNode, TableNode
from bqlite_app.state.workspace import WorkspaceState

_ROW = {"align": "center", "spacing": "1", "width": "100%", "min_height": "24px", "border_radius": "var(--radius-2)",
        "_hover": {"background": "var(--gray-a3)"}}


def _chevron(key: rx.Var, label: rx.Var) -> rx.Component:
    is_open = CatalogState.open_keys.contains(key)
    return rx.icon_button(
        rx.icon(rx.cond(is_open, "chevron-down", "chevron-right"), size=14),
        on_click=CatalogState.toggle(key), size="1", variant="ghost", color_scheme="gray",
        aria_label=rx.cond(is_open, "Collapse ", "Expand ") + label, aria_expanded=is_open,
    )


def _name_button(text: rx.Var, insert: rx.Var, icon: str, *, weight: str = "regular",
                 detail: rx.Var | str = "") -> rx.Component:
    return rx.el.button(
        rx.hstack(
            rx.icon(icon, size=13, color="var(--gray-10)", flex_shrink="0"),
            rx.text(text, size="1", weight=weight, truncate=True),
            rx.spacer(),
            rx.text(detail, size="1", color="var(--gray-10)", white_space="nowrap", overflow="hidden",
                    text_overflow="ellipsis", max_width="45%", font_family="var(--code-font-family)"),
            align="center", spacing="1", width="100%",
        ),
        on_click=WorkspaceState.insert_text(insert),
        title="Insert " + insert + " into the editor",
        aria_label="Insert " + insert,
        style={"all": "unset", "cursor": "pointer", "flex": "1", "min_width": "0", "padding": "2px 4px"},
    )


def _column(column: ColumnNode) -> rx.Component:
    return rx.hstack(
        rx.box(width="22px", flex_shrink="0"),
        _name_button(column.name, column.name, "columns-2", detail=column.type),
        **_ROW, padding_left="28px",
    )


def _table(table: TableNode) -> rx.Component:
    return rx.box(
        rx.hstack(
            _chevron(table.key, table.name),
            _name_button(table.name, table.qualified, "table-2", weight="medium", detail=table.rows),
            **_ROW, padding_left="14px",
        ),
        # While filtering, tables open so the matching columns show.
        rx.cond(CatalogState.open_keys.contains(table.key) | (CatalogState.filter_text != ""),
                rx.foreach(table.columns, _column)),
        role="treeitem", width="100%",
    )


def _database(database: DatabaseNode) -> rx.Component:
    return rx.box(
        rx.hstack(
            _chevron(database.key, database.name),
            _name_button(database.name, database.name, "folder", weight="medium"),
            **_ROW,
        ),
        rx.cond(CatalogState.open_keys.contains(database.key), rx.foreach(database.tables, _table)),
        role="treeitem", width="100%",
    )


def _engine(engine: EngineNode) -> rx.Component:
    return rx.box(
        rx.hstack(
            _chevron(engine.key, engine.name),
            rx.icon("server", size=14, color="var(--accent-9)"),
            rx.text(engine.name, size="2", weight="bold"),
            **_ROW,
        ),
        rx.cond(engine.error != "", rx.text(engine.error, size="1", color="var(--red-11)", padding_left="28px")),
        rx.cond(CatalogState.open_keys.contains(engine.key), rx.foreach(engine.databases, _database)),
        role="treeitem", width="100%", margin_bottom="6px",
    )


def explorer() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.input(
                rx.input.slot(rx.icon("search", size=14)),
                placeholder="Filter tables and columns", value=CatalogState.filter_text,
                on_change=CatalogState.set_filter_text.debounce(250), size="1", flex="1",
                aria_label="Filter tables and columns",
            ),
            rx.tooltip(
                rx.icon_button(rx.icon("refresh-cw", size=14), on_click=CatalogState.load, size="1", variant="ghost",
                               color_scheme="gray", loading=CatalogState.loading, aria_label="Refresh explorer"),
                content="Refresh",
            ),
            load_data_dialog(),
            width="100%", align="center", spacing="2",
        ),
        rx.box(
            rx.foreach(CatalogState.shown_engines, _engine),
            role="tree", aria_label="Explorer", width="100%", flex="1", min_height="0", overflow_y="auto",
        ),
        spacing="2", width="100%", height="100%", padding="0.6em",
    )


def _example(example: rx.Var) -> rx.Component:
    return rx.el.button(
        rx.vstack(
            rx.text(example["title"], size="2", weight="medium"),
            rx.text(example["description"], size="1", color="var(--gray-11)"),
            spacing="1", align="start",
        ),
        on_click=WorkspaceState.load_example(example["title"], example["sql"], example["engine"]),
        aria_label="Open sample: " + example["title"].to(str),
        style={"all": "unset", "cursor": "pointer", "display": "block", "padding": "8px 10px",
               "border_radius": "var(--radius-3)", "border": "1px solid var(--gray-a4)",
               "_hover": {"background": "var(--gray-a3)", "border_color": "var(--accent-a7)"}},
    )


def samples() -> rx.Component:
    return rx.vstack(
        rx.text("Sample queries for ", rx.code(WorkspaceState.engine), ". Each opens in a new tab.", size="1",
                color="var(--gray-11)"),
        rx.foreach(WorkspaceState.examples, _example),
        spacing="2", width="100%", padding="0.6em", overflow_y="auto", height="100%",
    )


def sidebar() -> rx.Component:
    return rx.tabs.root(
        rx.tabs.list(
            rx.tabs.trigger("Explorer", value="explorer"),
            rx.tabs.trigger("Saved", value="saved"),
            rx.tabs.trigger("Samples", value="samples"),
            size="1",
        ),
        rx.tabs.content(explorer(), value="explorer", flex="1", min_height="0"),
        rx.tabs.content(saved_panel(), value="saved", flex="1", min_height="0"),
        rx.tabs.content(samples(), value="samples", flex="1", min_height="0"),
        default_value="explorer",
        display="flex", flex_direction="column", width="100%", height="100%",
    )
