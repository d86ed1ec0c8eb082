"""The ``?`` overlay: the workspace's keyboard shortcuts (the keys themselves live in ``sql_editor.jsx``)."""

from __future__ import annotations

import reflex as rx

from bqlite_app.state.workspace import WorkspaceState

SHORTCUTS = [
    ("Ctrl + Enter", "Run the selection, or the whole query"),
    ("Ctrl + Shift + Enter", "Dry run: validate and estimate the bytes, run nothing"),
    ("Ctrl + S", "Save the query"),
    ("Esc", "Cancel the running job"),
    ("?", "Show these shortcuts"),
    ("Ctrl + Space", "Complete a table, column or keyword"),
]

_KBD = {"font_family": "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", "font_size": "12px",
        "padding": "1px 6px", "border": "1px solid var(--gray-a7)", "border_bottom_width": "2px",
        "border_radius": "4px", "background": "var(--gray-2)", "white_space": "nowrap"}


def _keys(combo: str) -> rx.Component:
    parts = [rx.el.kbd(key, style=_KBD) for key in combo.split(" + ")]
    joined: list[rx.Component] = []
    for index, part in enumerate(parts):
        if index:
            joined.append(rx.text("+", size="1", color="var(--gray-10)"))
        joined.append(part)
    return rx.hstack(*joined, align="center", spacing="1")


def shortcuts_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Keyboard shortcuts"),
            rx.dialog.description("On a Mac, Cmd works wherever Ctrl is written.", size="2", color="var(--gray-11)"),
            rx.table.root(
                rx.table.body(*[
                    rx.table.row(rx.table.cell(_keys(combo)), rx.table.cell(rx.text(what, size="2")))
                    for combo, what in SHORTCUTS
                ]),
                size="1", margin_top="0.75em", aria_label="Keyboard shortcuts",
            ),
            rx.flex(rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")), justify="end",
                    margin_top="1em"),
            max_width="520px",
        ),
        open=WorkspaceState.shortcuts_open, on_open_change=WorkspaceState.set_shortcuts_open,
    )


def shortcuts_button() -> rx.Component:
    return rx.icon_button(rx.icon("keyboard", size=14), on_click=WorkspaceState.open_shortcuts, size="1",
                          variant="ghost", color_scheme="gray", aria_label="Keyboard shortcuts",
                          title="Keyboard shortcuts (?)")
