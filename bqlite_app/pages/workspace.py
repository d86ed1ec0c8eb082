"""The SQL workspace at ``/``: explorer and samples on the left; tabs, controls, editor and results on the right."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.catalog_tree import sidebar
from bqlite_app.components.controls import labelled_select
from bqlite_app.components.layout import page_layout
from bqlite_app.components.param_inputs import param_inputs
from bqlite_app.components.result_grid import results_panel
from bqlite_app.components.saved_panel import save_dialog
from bqlite_app.components.shortcuts import shortcuts_button, shortcuts_dialog
from bqlite_app.components.sql_editor import sql_editor
from bqlite_app.datasets import SAMPLE_DATABASES
from bqlite_app.state.auth import AuthState
from bqlite_app.state.catalog import CatalogState
from bqlite_app.state.workspace import ENGINE_CHOICES, PRIORITIES, WorkspaceState

# The scheduler runs lower numbers first; waiting jobs age upwards so batch work never starves.
PRIORITY_NAMES = {"1": "interactive", "5": "batch"}


def _tab(tab: rx.Var) -> rx.Component:
    active = tab.id == WorkspaceState.active_id
    return rx.hstack(
        rx.el.button(
            rx.hstack(rx.icon("file-code-2", size=13), rx.text(tab.title, size="1", weight="medium", truncate=True),
                      align="center", spacing="1"),
            on_click=WorkspaceState.select_tab(tab.id),
            role="tab", aria_selected=active, title=tab.title,
            style={"all": "unset", "cursor": "pointer", "max_width": "180px", "padding": "0 2px 0 10px"},
        ),
        rx.icon_button(rx.icon("x", size=12), on_click=WorkspaceState.close_tab(tab.id), size="1",
                       variant="ghost", color_scheme="gray", aria_label="Close tab " + tab.title),
        align="center", spacing="1", height="32px", padding_right="4px", flex_shrink="0",
        border_right="1px solid var(--gray-a4)",
        border_bottom=rx.cond(active, "2px solid var(--accent-9)", "2px solid transparent"),
        background=rx.cond(active, "var(--color-panel-solid)", "transparent"),
        color=rx.cond(active, "var(--gray-12)", "var(--gray-11)"),
    )


def tab_strip() -> rx.Component:
    return rx.hstack(
        rx.hstack(rx.foreach(WorkspaceState.tabs, _tab), role="tablist", aria_label="Query tabs", spacing="0",
                  overflow_x="auto", min_width="0"),
        rx.icon_button(rx.icon("plus", size=14), on_click=WorkspaceState.new_tab, size="1", variant="ghost",
                       aria_label="New tab", margin_left="6px"),
        align="center", spacing="0", width="100%", flex_shrink="0", background="var(--gray-2)",
        border_bottom="1px solid var(--gray-a5)",
    )


def _labelled(label: str, control: rx.Component) -> rx.Component:
    return rx.hstack(rx.text(label, size="1", color="var(--gray-11)", white_space="nowrap"), control,
                     align="center", spacing="1")


def toolbar() -> rx.Component:
    return rx.hstack(
        rx.button(rx.icon("play", size=14), "Run", on_click=WorkspaceState.run_query, size="2",
                  loading=WorkspaceState.is_active, aria_label="Run query", title="Run (Ctrl+Enter)"),
        rx.cond(
            WorkspaceState.is_active,
            rx.button(rx.icon("square", size=13), "Cancel", on_click=WorkspaceState.cancel_query, size="2",
                      color_scheme="red", variant="soft", aria_label="Cancel query"),
        ),
        rx.separator(orientation="vertical", size="1"),
        _labelled("Engine", labelled_select("Engine", ENGINE_CHOICES, WorkspaceState.engine, WorkspaceState.set_engine,
                                            size="1")),
        _labelled("Priority", labelled_select(
            "Priority", [(p, f"{p} · {PRIORITY_NAMES[p]}") if p in PRIORITY_NAMES else p for p in PRIORITIES],
            WorkspaceState.priority, WorkspaceState.set_priority, size="1")),
        _labelled("Max time (s)", rx.input(
            type="number", min=1, max=86400, value=WorkspaceState.timeout_s, size="1", width="6em",
            on_change=WorkspaceState.set_timeout_s.debounce(300), aria_label="Max execution time in seconds")),
        rx.button(rx.icon("wand-sparkles", size=14), "Format", on_click=WorkspaceState.format_sql, size="1",
                  variant="soft", color_scheme="gray", aria_label="Format SQL"),
        save_dialog(),
        shortcuts_button(),
        align="center", spacing="3", width="100%", padding_x="0.75em", padding_y="0.45em", wrap="wrap",
        flex_shrink="0",
    )


def dry_run_line() -> rx.Component:
    return rx.hstack(
        rx.cond(
            WorkspaceState.dry_run_message != "",
            rx.cond(
                WorkspaceState.dry_run_valid,
                rx.hstack(rx.icon("circle-check", size=14, color="var(--grass-10)"),
                          rx.text(WorkspaceState.dry_run_message, size="1"), align="center", spacing="1"),
                rx.hstack(rx.icon("circle-alert", size=14, color="var(--red-10)", flex_shrink="0"),
                          rx.text(WorkspaceState.dry_run_message, size="1", color="var(--red-11)",
                                  title=WorkspaceState.dry_run_message, min_width="0", white_space="nowrap",
                                  overflow="hidden", text_overflow="ellipsis"),
                          rx.text(WorkspaceState.dry_run_where, size="1", color="var(--gray-11)", white_space="nowrap"),
                          align="center", spacing="1", min_width="0", flex="1"),
            ),
        ),
        rx.text("Ctrl+Enter runs the selection or the whole query · ? shortcuts", size="1", color="var(--gray-10)",
                white_space="nowrap", display=["none", "none", "block"], margin_left="auto", padding_left="1em"),
        role="status", aria_label="Query validation", align="center", width="100%", min_height="26px",
        padding_x="0.75em", border_top="1px solid var(--gray-a4)", border_bottom="1px solid var(--gray-a5)",
        flex_shrink="0",
    )


def editor() -> rx.Component:
    return rx.box(
        rx.cond(
            rx.State.is_hydrated,
            sql_editor(
                value=WorkspaceState.editor_text,
                command=WorkspaceState.editor_command,
                catalog=CatalogState.completion[WorkspaceState.engine],
                default_schema=rx.match(WorkspaceState.engine, *SAMPLE_DATABASES.items(), ""),
                engine=WorkspaceState.engine,
                color_mode=rx.color_mode_cond("light", "dark"),
                placeholder="Write SQL here. Ctrl+Enter runs it.",
                aria_label="SQL editor",
                on_change=WorkspaceState.editor_changed,
                on_run=WorkspaceState.run_from_editor,
                on_save=WorkspaceState.save_shortcut,
                on_dry_run=WorkspaceState.dry_run_from_editor,
                on_cancel=WorkspaceState.cancel_query,
                on_shortcuts=WorkspaceState.open_shortcuts,
            ),
        ),
        height="28vh", min_height="120px", max_height="70vh", width="100%", flex_shrink="0", overflow="hidden",
        resize="vertical", background="var(--color-panel-solid)",
    )


@rx.page(route="/", title="Workspace · BigQuery-Lite", on_load=[AuthState.check_login, WorkspaceState.load_page])
def workspace() -> rx.Component:
    return page_layout(
        rx.box(
            sidebar(),
            width="272px", flex_shrink="0", height="100%", border_right="1px solid var(--gray-a5)",
            background="var(--gray-1)", display=["none", "none", "block"], aria_label="Explorer and samples",
            role="complementary",
        ),
        rx.vstack(
            tab_strip(),
            toolbar(),
            editor(),
            param_inputs(),
            dry_run_line(),
            shortcuts_dialog(),
            rx.box(results_panel(), flex="1", min_height="0", width="100%"),
            spacing="0", flex="1", min_width="0", height="100%",
        ),
        title="SQL workspace", full_bleed=True,
    )
