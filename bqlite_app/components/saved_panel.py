"""Saved queries in the workspace: the sidebar's "Saved" tab (search, open in a new tab, rename, update from the
current tab, delete) and the toolbar's Save button with its dialog (also Ctrl+S)."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.controls import labelled_select
from bqlite_app.components.widgets import error_note
from bqlite_app.saved.models import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS
from bqlite_app.state.saved import SHARING_CHOICES, SavedItem
from bqlite_app.state.workspace import WorkspaceState

S = WorkspaceState


def _actions(item: SavedItem) -> rx.Component:
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.icon_button(rx.icon("ellipsis", size=14), size="1", variant="ghost", color_scheme="gray",
                           aria_label="Actions for " + item.name),
        ),
        rx.dropdown_menu.content(
            rx.dropdown_menu.item(rx.icon("file-plus-2", size=14), "Open in a new tab",
                                  on_click=S.open_saved(item.id)),
            rx.cond(item.can_edit, rx.fragment(
                rx.dropdown_menu.item(rx.icon("pencil", size=14), "Rename…",
                                      on_click=S.start_rename(item.id, item.name)),
                rx.dropdown_menu.item(rx.icon("refresh-ccw", size=14), "Update from current tab",
                                      on_click=S.update_from_tab(item.id)),
                rx.dropdown_menu.separator(),
                rx.dropdown_menu.item(rx.icon("trash-2", size=14), "Delete…", color="red",
                                      on_click=S.ask_delete(item.id, item.name)),
            )),
            size="1",
        ),
    )


def _item(item: SavedItem) -> rx.Component:
    return rx.hstack(
        rx.el.button(
            rx.vstack(
                rx.hstack(
                    rx.icon("bookmark", size=13, color="var(--accent-9)", flex_shrink="0"),
                    rx.text(item.name, size="2", weight="medium", truncate=True),
                    rx.cond(item.sharing != "private",
                            rx.icon("users", size=12, color="var(--gray-10)", flex_shrink="0",
                                    aria_label="Shared")),
                    align="center", spacing="1", width="100%", min_width="0",
                ),
                rx.cond(item.description != "",
                        rx.text(item.description, size="1", color="var(--gray-11)", truncate=True, width="100%")),
                rx.text(item.engine + rx.cond(item.can_edit, "", " · by " + item.owner), size="1",
                        color="var(--gray-10)"),
                spacing="0", align="start", width="100%", min_width="0",
            ),
            on_click=S.open_saved(item.id),
            title="Open " + item.name + " in a new tab (updated " + item.updated + " UTC)",
            aria_label="Open saved query " + item.name,
            style={"all": "unset", "cursor": "pointer", "flex": "1", "min_width": "0", "padding": "4px 6px"},
        ),
        _actions(item),
        align="center", spacing="1", width="100%", border_radius="var(--radius-2)",
        border="1px solid var(--gray-a4)", _hover={"background": "var(--gray-a3)"},
        role="listitem",
    )


def _rename_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Rename saved query"),
            rx.vstack(
                rx.input(value=S.rename_name, on_change=S.set_rename_name, max_length=MAX_NAME_CHARS,
                         aria_label="New name", width="100%"),
                error_note(S.rename_error),
                rx.hstack(
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                    rx.button("Rename", on_click=S.submit_rename, aria_label="Confirm rename"),
                    justify="end", spacing="2", width="100%",
                ),
                spacing="3", width="100%",
            ),
            max_width="420px",
        ),
        open=S.rename_id != "", on_open_change=S.set_rename_open,
    )


def _delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete saved query"),
            rx.alert_dialog.description("Delete “" + S.delete_name + "”? Users it is shared with lose it too."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button("Delete", color_scheme="red", on_click=S.confirm_delete,
                                                 aria_label="Confirm delete")),
                justify="end", spacing="2", margin_top="1em",
            ),
            max_width="420px",
        ),
        open=S.delete_id != "", on_open_change=S.set_delete_open,
    )


def saved_panel() -> rx.Component:
    """The sidebar's "Saved" tab."""
    return rx.vstack(
        rx.hstack(
            rx.input(
                rx.input.slot(rx.icon("search", size=14)),
                placeholder="Search saved queries", value=S.saved_search,
                on_change=S.set_saved_search.debounce(250), size="1", flex="1", max_length=200,
                aria_label="Search saved queries",
            ),
            rx.tooltip(
                rx.icon_button(rx.icon("refresh-cw", size=14), on_click=S.load_saved, size="1", variant="ghost",
                               color_scheme="gray", loading=S.saved_loading, aria_label="Refresh saved queries"),
                content="Refresh",
            ),
            width="100%", align="center", spacing="2",
        ),
        error_note(S.saved_error),
        rx.cond(S.saved_notice != "", rx.text(S.saved_notice, size="1", color="var(--grass-11)", role="status",
                                              aria_label="Saved queries status")),
        rx.cond(
            S.saved_items.length() > 0,
            rx.vstack(rx.foreach(S.saved_items, _item), role="list", aria_label="Saved queries", spacing="2",
                      width="100%"),
            rx.text(rx.cond(S.saved_search != "", "No saved query matches.",
                            "No saved queries yet. Save the current tab with Save (Ctrl+S)."),
                    size="1", color="var(--gray-11)"),
        ),
        _rename_dialog(),
        _delete_dialog(),
        spacing="2", width="100%", height="100%", padding="0.6em", overflow_y="auto",
    )


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="1", weight="medium", color="var(--gray-11)"), control,
                     spacing="1", width="100%")


def save_dialog() -> rx.Component:
    """The toolbar's Save button and its dialog: update the saved query this tab came from, or save a new one."""
    return rx.fragment(
        rx.button(rx.icon("bookmark-plus", size=14), "Save", on_click=S.open_save_dialog, size="1", variant="soft",
                  color_scheme="gray", aria_label="Save query", title="Save query (Ctrl+S)"),
        rx.dialog.root(
            rx.dialog.content(
                rx.dialog.title("Save query"),
                rx.dialog.description(
                    rx.cond(S.save_target != "",
                            "Update “" + S.save_target_name + "” with this tab's SQL, or save it under a new name.",
                            "Save this tab's SQL and engine under a name. It is listed in the sidebar's Saved tab."),
                    size="2", color_scheme="gray"),
                rx.vstack(
                    _field("Name", rx.input(value=S.save_name, on_change=S.set_save_name, max_length=MAX_NAME_CHARS,
                                            placeholder="Trips by hour", aria_label="Saved query name",
                                            width="100%")),
                    _field("Description", rx.text_area(
                        value=S.save_description, on_change=S.set_save_description, rows="3",
                        max_length=MAX_DESCRIPTION_CHARS, placeholder="What it is for (optional)",
                        aria_label="Saved query description", width="100%")),
                    _field("Shared with", labelled_select("Sharing", SHARING_CHOICES, S.save_sharing,
                                                          S.set_save_sharing, size="2", width="100%")),
                    rx.cond(S.save_sharing == "users", _field("Users", rx.input(
                        value=S.save_shared_with, on_change=S.set_save_shared_with, placeholder="alice, bob",
                        aria_label="Share with users", width="100%"))),
                    error_note(S.save_error),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                        rx.cond(S.save_target != "",
                                rx.button("Update", on_click=S.save_update, variant="soft", loading=S.save_busy,
                                          aria_label="Update saved query")),
                        rx.button(rx.cond(S.save_target != "", "Save as new", "Save"), on_click=S.save_as_new,
                                  loading=S.save_busy, disabled=S.save_name.strip() == "",
                                  aria_label="Save as new query"),
                        justify="end", spacing="2", width="100%",
                    ),
                    spacing="3", width="100%", margin_top="0.75em",
                ),
                max_width="480px",
            ),
            open=S.save_open, on_open_change=S.set_save_open,
        ),
    )
