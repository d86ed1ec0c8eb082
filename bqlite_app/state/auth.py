"""Who the browser tab acts for: the sign-in token it keeps, and the principal the core derives from it.

The token lives in the browser's localStorage (it survives a reload) and reaches the backend state when the page
hydrates. Every event that acts for someone asks the core who the token belongs to (``principal()``), so a revoked
token, a deactivated user or a role change takes effect at the next click, not at the next page load. Nothing the
browser sends names a user directly: the username and role shown in the header are read back from the core.

With ``BQLITE_AUTH=off`` the core answers the built-in ``local`` admin for no token, and no page asks for a login.
Every other UI state derives from ``AuthState`` so it can read the token without a second state lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import reflex as rx

from bqlite_app.access.principal import LOCAL, Principal
from bqlite_app.core import app_core
from bqlite_app.errors import AuthRequired
from bqlite_app.settings import get_settings

T = TypeVar("T")
TOKEN_KEY = "bqlite.token"
LOGIN_ROUTE = "/login"
AUTH_ON = get_settings().auth_on


def authenticate(token: str, client_ip: str | None) -> Principal:
    """The principal behind ``token`` (AuthRequired when auth is on and it is missing, expired or revoked)."""
    try:
        identity = app_core().identity
    except RuntimeError:
        # The core is starting or stopping: only the auth-off laptop mode may act without it.
        if AUTH_ON:
            raise AuthRequired("Sign in to continue.") from None
        return LOCAL
    return identity.authenticate(token or None, client_ip or None)


def acting(credentials: tuple[str, str | None], fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, user=<the principal behind credentials>, **kwargs)``, for worker threads of background events."""
    return fn(*args, user=authenticate(*credentials), **kwargs)


def login_path(next_path: str) -> str:
    """The login page, returning to ``next_path`` afterwards (only a path on this site, never another origin)."""
    if not next_path.startswith("/") or next_path.startswith("//") or next_path.startswith(LOGIN_ROUTE):
        return LOGIN_ROUTE
    return f"{LOGIN_ROUTE}?{urlencode({'next': next_path}, quote_via=quote)}"


def safe_next(value: str | None) -> str:
    value = value or "/"
    return value if value.startswith("/") and not value.startswith("//") and not value.startswith(LOGIN_ROUTE) else "/"


class AuthState(rx.State):
    """The sign-in token and who it belongs to; the base of every UI state."""

    auth_token: str = rx.LocalStorage("", name=TOKEN_KEY, sync=True)
    # Shown in the header; read back from the core, never set from the browser.
    username: str = ""
    role: str = ""
    auth_on: bool = AUTH_ON

    @rx.var
    def is_admin(self) -> bool:
        return self.role == "admin"

    @rx.var
    def user_label(self) -> str:
        if not self.username:
            return ""
        return f"{self.username} ({self.role})"

    def principal(self) -> Principal:
        """Who this event acts for, asked of the core now. Raises AuthRequired."""
        return authenticate(self.auth_token, self.router.session.client_ip)

    def _credentials(self) -> tuple[str, str | None]:
        """What a background event reads under ``async with self`` to authenticate outside the lock."""
        return self.auth_token, self.router.session.client_ip or None

    def principal_or_none(self) -> Principal | None:
        try:
            return self.principal()
        except AuthRequired:
            return None

    def _current_path(self) -> str:
        url = self.router.url
        query = urlencode(url.query_parameters) if url.query_parameters else ""
        return url.path + (f"?{query}" if query else "")

    @rx.event
    def check_login(self):
        """First on_load event of every page: show who is signed in, or send the tab to the login page."""
        user = self.principal_or_none()
        if user is None:
            self.username, self.role = "", ""
            return rx.redirect(login_path(self._current_path()), replace=True)
        self.username, self.role = user.username, user.role
        return None

    @rx.event
    def sign_out(self):
        """Forget the token and everything this tab's backend state holds (a new session starts on reload)."""
        self.auth_token = ""
        self.username, self.role = "", ""
        return [
            rx.remove_local_storage(TOKEN_KEY),
            rx.remove_local_storage("bqlite.workspace.tabs"),
            rx.clear_session_storage(),
            rx.call_script(f"window.location.replace('{LOGIN_ROUTE}')"),
        ]
