"""/login: shown when auth is on and the tab has no valid token; afterwards it returns to where the user was."""

from __future__ import annotations

import reflex as rx

from bqlite_app.state.auth import LOGIN_ROUTE
from bqlite_app.state.login import LoginState


@rx.page(route=LOGIN_ROUTE, title="Sign in · BigQuery-Lite", on_load=LoginState.load)
def login_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.hstack(rx.icon("database-zap", size=22, color="var(--accent-9)"),
                              rx.heading("BigQuery-Lite", size="5", weight="bold"), align="center", spacing="2"),
                    rx.text("Sign in to continue.", size="2", color_scheme="gray"),
                    rx.vstack(
                        rx.text("Username", size="2", weight="medium", as_="label", html_for="login-username"),
                        rx.input(name="username", id="login-username", auto_complete="username", auto_focus=True,
                                 aria_label="Username", width="100%", size="3"),
                        spacing="1", width="100%",
                    ),
                    rx.vstack(
                        rx.text("Password", size="2", weight="medium", as_="label", html_for="login-password"),
                        rx.input(name="password", id="login-password", type="password", aria_label="Password",
                                 auto_complete="current-password", width="100%", size="3"),
                        spacing="1", width="100%",
                    ),
                    rx.cond(LoginState.login_error != "",
                            rx.callout(LoginState.login_error, icon="circle-alert", color_scheme="red", size="1",
                                       role="alert", width="100%")),
                    rx.button("Sign in", type="submit", size="3", width="100%", loading=LoginState.signing_in),
                    spacing="4", width="100%",
                ),
                on_submit=LoginState.login, reset_on_submit=False,
            ),
            width="360px", size="4",
        ),
        height="100vh", width="100%", background="var(--gray-2)",
    )
