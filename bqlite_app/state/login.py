"""The login form (/login). The password goes straight from the form to the core and is never kept in state."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError
from bqlite_app.state.auth import AuthState, safe_next


class LoginState(AuthState):
    login_error: str = ""
    signing_in: bool = False

    @rx.var
    def next_path(self) -> str:
        return safe_next(self.router.url.query_parameters.get("next"))

    @rx.event
    def load(self):
        """Nothing to do here when auth is off or the stored token is still good: go where the user was going."""
        self.login_error = ""
        user = self.principal_or_none()
        if user is not None:
            self.username, self.role = user.username, user.role
            return rx.redirect(self.next_path, replace=True)
        return None

    @rx.event
    async def login(self, form: dict[str, Any]):
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        if not username or not password:
            self.login_error = "Enter your username and password."
            return
        self.signing_in, self.login_error = True, ""
        yield
        ip = self.router.session.client_ip or None
        try:
            issued = await asyncio.to_thread(app_core().identity.login, username, password, ip)
            user = await asyncio.to_thread(app_core().identity.authenticate, issued.access_token, ip)
        except BqliteError as exc:   # bad credentials (401) or too many failures (429): the core's words
            self.login_error = exc.detail
            return
        finally:
            self.signing_in = False
        self.auth_token = issued.access_token
        self.username, self.role = user.username, user.role
        yield rx.redirect(self.next_path, replace=True)
