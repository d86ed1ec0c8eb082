"""The header's user menu: who is signed in and their role, sign out, change password, API tokens.

With auth off it says "local (admin)" and offers no sign-out (there is nobody to sign out).
"""

from __future__ import annotations

import reflex as rx

from bqlite_app.components.widgets import error_note
from bqlite_app.state.account import EXPIRY_CHOICES, AccountState, TokenRow
from bqlite_app.state.auth import AuthState


def _field(label: str, name: str, *, type_: str = "text", placeholder: str = "", **props) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium", as_="label", html_for=f"field-{name}"),
        rx.input(name=name, id=f"field-{name}", type=type_, placeholder=placeholder, aria_label=label, width="100%",
                 **props),
        spacing="1", width="100%",
    )


def password_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Change password"),
            rx.form(
                rx.vstack(
                    _field("Current password", "current_password", type_="password",
                           auto_complete="current-password"),
                    _field("New password", "new_password", type_="password", auto_complete="new-password",
                           placeholder="at least 12 characters"),
                    _field("Repeat the new password", "confirm_password", type_="password",
                           auto_complete="new-password"),
                    error_note(AccountState.password_error),
                    rx.cond(AccountState.password_saved,
                            rx.callout("Your password was changed.", icon="check", color_scheme="green", size="1")),
                    rx.hstack(
                        rx.dialog.close(rx.button("Close", type="button", variant="soft", color_scheme="gray")),
                        rx.button("Change password", type="submit"),
                        justify="end", width="100%", spacing="2",
                    ),
                    spacing="3", width="100%",
                ),
                on_submit=AccountState.change_password, reset_on_submit=True,
            ),
            max_width="420px",
        ),
        open=AccountState.password_open, on_open_change=AccountState.set_password_open,
    )


def _token_row(token: TokenRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(token.name),
        rx.table.cell(rx.code(token.id, variant="ghost", size="1")),
        rx.table.cell(token.created, white_space="nowrap"),
        rx.table.cell(token.expires, white_space="nowrap"),
        rx.table.cell(rx.button("Revoke", size="1", color_scheme="red", variant="soft",
                                on_click=AccountState.revoke_token(token.id), aria_label="Revoke " + token.name)),
        aria_label="API token " + token.name,
    )


def _new_secret() -> rx.Component:
    return rx.cond(
        AccountState.new_token_secret != "",
        rx.callout.root(
            rx.vstack(
                rx.text("Copy the token ", rx.text.strong(AccountState.new_token_name),
                        " now: it is shown this once.", size="2"),
                rx.hstack(
                    rx.code(AccountState.new_token_secret, aria_label="New API token", size="2",
                            style={"word_break": "break-all"}),
                    rx.icon_button(rx.icon("copy", size=14), size="1", variant="soft", aria_label="Copy token",
                                   on_click=[rx.set_clipboard(AccountState.new_token_secret),
                                             rx.toast.success("Token copied")]),
                    align="center", spacing="2",
                ),
                rx.button("Done, I copied it", size="1", variant="soft", on_click=AccountState.forget_secret),
                spacing="2",
            ),
            color_scheme="green", width="100%",
        ),
    )


def tokens_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("API tokens"),
            rx.dialog.description("For scripts and the CLI: send one as `Authorization: Bearer <token>`.", size="2"),
            rx.vstack(
                rx.form(
                    rx.hstack(
                        rx.input(name="name", placeholder="Token name, e.g. nightly-export", aria_label="Token name",
                                 flex="1"),
                        rx.select.root(
                            rx.select.trigger(aria_label="Expires in"),
                            rx.select.content(*[rx.select.item(f"{c} days" if c != "never" else "never expires",
                                                               value=c) for c in EXPIRY_CHOICES]),
                            value=AccountState.token_expiry, on_change=AccountState.set_token_expiry,
                        ),
                        rx.button(rx.icon("plus", size=14), "Create token", type="submit"),
                        spacing="2", width="100%", align="center",
                    ),
                    on_submit=AccountState.create_token, reset_on_submit=True, width="100%",
                ),
                _new_secret(),
                error_note(AccountState.token_error),
                rx.cond(
                    AccountState.tokens.length() > 0,
                    rx.table.root(
                        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                                       ("Name", "ID", "Created", "Expires", "")])),
                        rx.table.body(rx.foreach(AccountState.tokens, _token_row)),
                        size="1", width="100%", aria_label="Your API tokens",
                    ),
                    rx.text("You have no API tokens.", size="2", color_scheme="gray"),
                ),
                rx.hstack(rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")),
                          justify="end", width="100%"),
                spacing="3", width="100%",
            ),
            max_width="720px",
        ),
        open=AccountState.tokens_open, on_open_change=AccountState.set_tokens_open,
    )


def user_menu() -> rx.Component:
    label = rx.cond(AuthState.username != "", AuthState.user_label, "")
    return rx.fragment(
        rx.menu.root(
            rx.menu.trigger(
                rx.button(rx.icon("circle-user", size=16), rx.text(label, size="2"), rx.icon("chevron-down", size=12),
                          variant="ghost", color_scheme="gray", size="2", aria_label="User menu"),
            ),
            rx.menu.content(
                rx.box(rx.text("Signed in as ", rx.text.strong(AuthState.username), " · role ",
                               rx.text.strong(AuthState.role), size="1", color_scheme="gray"),
                       padding_x="0.75em", padding_y="0.35em"),
                rx.menu.separator(),
                # With auth off there is no password to change and every request already acts as the admin.
                rx.cond(AuthState.auth_on, rx.fragment(
                    rx.menu.item(rx.icon("key-round", size=14), "Change password",
                                 on_click=AccountState.set_password_open(True)),
                    rx.menu.item(rx.icon("ticket", size=14), "API tokens",
                                 on_click=AccountState.set_tokens_open(True)),
                )),
                rx.cond(AuthState.is_admin, rx.fragment(
                    rx.menu.separator(),
                    rx.menu.item(rx.icon("users", size=14), "Users", on_click=rx.redirect("/admin/users")),
                    rx.menu.item(rx.icon("database", size=14), "Datasets and grants",
                                 on_click=rx.redirect("/admin/datasets")),
                    rx.menu.item(rx.icon("scroll-text", size=14), "Audit log", on_click=rx.redirect("/admin/audit")),
                )),
                rx.cond(AuthState.auth_on, rx.fragment(
                    rx.menu.separator(),
                    rx.menu.item(rx.icon("log-out", size=14), "Sign out", on_click=AuthState.sign_out,
                                 color="red"),
                )),
            ),
        ),
        password_dialog(),
        tokens_dialog(),
    )
