"""/admin/users: create users, change their role, deactivate or delete them (admins only)."""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.admin import admin_page
from bqlite_app.components.controls import labelled_select
from bqlite_app.state.admin import ROLES, AdminUsersState, UserRow
from bqlite_app.state.auth import AuthState


def create_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(name="username", placeholder="username", aria_label="New username", width="14em"),
            rx.input(name="password", type="password", placeholder="password (12+ characters)",
                     aria_label="New user's password", auto_complete="new-password", width="16em"),
            labelled_select("New user's role", ROLES, AdminUsersState.new_role, AdminUsersState.set_new_role),
            rx.button(rx.icon("user-plus", size=14), "Create user", type="submit"),
            spacing="2", align="center", wrap="wrap",
        ),
        on_submit=AdminUsersState.create_user, reset_on_submit=True,
    )


def user_row(user: UserRow) -> rx.Component:
    me = user.username == AuthState.username
    return rx.table.row(
        rx.table.cell(rx.text(user.username, weight="medium")),
        rx.table.cell(rx.select.root(
            rx.select.trigger(custom_attrs={"aria-label": "Role of " + user.username}, variant="ghost"),
            rx.select.content(*[rx.select.item(r, value=r) for r in ROLES]),
            value=user.role, on_change=lambda role: AdminUsersState.set_role(user.username, role), size="1")),
        rx.table.cell(rx.cond(user.active, rx.badge("active", color_scheme="green"),
                              rx.badge("deactivated", color_scheme="gray"))),
        rx.table.cell(user.created, white_space="nowrap"),
        rx.table.cell(user.last_login, white_space="nowrap"),
        rx.table.cell(rx.hstack(
            rx.cond(user.active,
                    rx.button("Deactivate", size="1", variant="soft", color_scheme="orange", disabled=me,
                              on_click=AdminUsersState.set_active(user.username, False),
                              aria_label="Deactivate " + user.username),
                    rx.button("Reactivate", size="1", variant="soft",
                              on_click=AdminUsersState.set_active(user.username, True),
                              aria_label="Reactivate " + user.username)),
            rx.alert_dialog.root(
                rx.alert_dialog.trigger(rx.button("Delete", size="1", variant="soft", color_scheme="red",
                                                  disabled=me, aria_label="Delete " + user.username)),
                rx.alert_dialog.content(
                    rx.alert_dialog.title("Delete " + user.username + "?"),
                    rx.alert_dialog.description("Their API tokens and grants go too. Their jobs stay in the history."),
                    rx.hstack(
                        rx.alert_dialog.cancel(rx.button("Keep", variant="soft", color_scheme="gray")),
                        rx.alert_dialog.action(rx.button("Delete", color_scheme="red",
                                                         on_click=AdminUsersState.delete_user(user.username))),
                        justify="end", spacing="2", margin_top="1em",
                    ),
                ),
            ),
            spacing="2",
        )),
        align="center", aria_label="User " + user.username,
    )


@rx.page(route="/admin/users", title="Users · BigQuery-Lite", on_load=[AuthState.check_login, AdminUsersState.load])
def admin_users_page() -> rx.Component:
    return admin_page(
        "Users", "Admins manage users and everything else; members see only the datasets they are granted.",
        create_form(),
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                           ("User", "Role", "Status", "Created", "Last sign-in", "")])),
            rx.table.body(rx.foreach(AdminUsersState.users, user_row)),
            size="1", variant="surface", width="100%", aria_label="Users",
        ),
    )
