"""The cell inspector: a side panel beside the result grid with the clicked nested value (or long text) as a tree
that folds, or as indented text, and a copy button (``state/inspector.py``)."""

from __future__ import annotations

import reflex as rx

from bqlite_app.state.workspace import WorkspaceState

_INDENT_PX = 14
_KIND_COLORS = (("string", "var(--grass-11)"), ("number", "var(--blue-11)"), ("bool", "var(--orange-11)"),
                ("null", "var(--gray-10)"), ("more", "var(--gray-10)"))
_MONO = "var(--code-font-family)"


def _toggle(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["branch"].to(bool),
        rx.icon_button(
            rx.cond(row["collapsed"].to(bool), rx.icon("chevron-right", size=12), rx.icon("chevron-down", size=12)),
            on_click=WorkspaceState.toggle_inspect_node(row["path"].to(str)),
            aria_label=rx.cond(row["collapsed"].to(bool), "Expand ", "Collapse ") + rx.cond(
                row["key"].to(str) != "", row["key"].to(str), "the value"),
            size="1", variant="ghost", color_scheme="gray", width="18px", height="18px", flex_shrink="0",
        ),
        rx.box(width="18px", flex_shrink="0"),
    )


def _node(row: rx.Var) -> rx.Component:
    return rx.hstack(
        _toggle(row),
        rx.cond(row["key"].to(str) != "",
                rx.text(row["key"].to(str) + ":", size="1", color="var(--accent-11)", font_family=_MONO,
                        white_space="nowrap", flex_shrink="0")),
        rx.text(row["text"].to(str), size="1", font_family=_MONO, word_break="break-all",
                color=rx.match(row["kind"].to(str), *_KIND_COLORS, "var(--gray-11)")),
        align="start", spacing="1", role="treeitem", width="100%",
        padding_left=(row["depth"].to(int) * _INDENT_PX).to_string() + "px",
        custom_attrs={"aria-level": row["depth"].to(int) + 1},
    )


def _tree() -> rx.Component:
    return rx.vstack(
        rx.foreach(WorkspaceState.inspect_visible, _node),
        spacing="0", role="tree", aria_label="Value tree", width="100%",
    )


def _text() -> rx.Component:
    return rx.el.pre(
        WorkspaceState.inspect_text,
        aria_label="Value text",
        style={"white_space": "pre-wrap", "word_break": "break-word", "margin": "0", "font_size": "12px",
               "font_family": _MONO},
    )


def _small_button(icon: str, label: str, on_click: rx.EventHandler) -> rx.Component:
    return rx.icon_button(rx.icon(icon, size=13), on_click=on_click, size="1", variant="ghost", color_scheme="gray",
                          aria_label=label, title=label)


def _header() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.icon("braces", size=15, color="var(--accent-10)"),
            rx.text("Cell inspector", size="2", weight="bold"),
            rx.spacer(),
            rx.button(rx.icon("copy", size=13), "Copy", size="1", variant="soft",
                      on_click=[rx.set_clipboard(WorkspaceState.inspect_text),
                                rx.toast.success("Copied the value", duration=1500)],
                      aria_label="Copy the value", title="Copy the whole value to the clipboard"),
            _small_button("x", "Close the inspector", WorkspaceState.close_inspector),
            align="center", spacing="2", width="100%",
        ),
        rx.hstack(
            rx.text(WorkspaceState.inspect_column, size="1", weight="medium", font_family=_MONO, truncate=True,
                    title=WorkspaceState.inspect_column),
            rx.code(WorkspaceState.inspect_type, size="1", variant="ghost", truncate=True,
                    title=WorkspaceState.inspect_type),
            rx.text("row ", WorkspaceState.inspect_row, size="1", color="var(--gray-10)", white_space="nowrap"),
            align="center", spacing="2", width="100%", min_width="0", aria_label="Inspected cell",
        ),
        rx.hstack(
            rx.cond(
                WorkspaceState.inspect_structured,
                rx.segmented_control.root(
                    rx.segmented_control.item(rx.icon("list-tree", size=13), value="tree", aria_label="Tree view"),
                    rx.segmented_control.item(rx.icon("text", size=13), value="text", aria_label="Text view"),
                    value=WorkspaceState.inspect_mode, on_change=WorkspaceState.set_inspect_mode, size="1",
                ),
            ),
            rx.cond(
                WorkspaceState.inspect_structured & (WorkspaceState.inspect_mode == "tree"),
                rx.hstack(_small_button("chevrons-down-up", "Collapse all", WorkspaceState.collapse_inspect_all),
                          _small_button("chevrons-up-down", "Expand all", WorkspaceState.expand_inspect_all),
                          spacing="1"),
            ),
            rx.spacer(),
            rx.text(WorkspaceState.inspect_size, size="1", color="var(--gray-10)"),
            align="center", spacing="2", width="100%",
        ),
        spacing="2", width="100%", padding="0.6em", border_bottom="1px solid var(--gray-a5)",
    )


def cell_inspector() -> rx.Component:
    """The panel, shown while a cell is inspected; it sits to the right of the grid."""
    return rx.cond(
        WorkspaceState.inspect_open,
        rx.vstack(
            _header(),
            rx.box(
                rx.cond((WorkspaceState.inspect_mode == "tree") & WorkspaceState.inspect_structured, _tree(),
                        _text()),
                flex="1", min_height="0", overflow="auto", width="100%", padding="0.6em",
            ),
            spacing="0", width=["100%", "100%", "380px"], max_width="45%", flex_shrink="0", height="100%",
            border_left="1px solid var(--gray-a5)", background="var(--color-panel-solid)",
            role="complementary", aria_label="Cell inspector",
        ),
    )
