"""The user menu's dialogs: change your password, and your API tokens (create, list, revoke).

Passwords go straight from the submitted form to the core and are never kept in state. A new token's secret is kept
only while its dialog shows it (it is shown this once) and is forgotten when the dialog closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any

import reflex as rx

from bqlite_app.access.models import ApiToken
from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError
from bqlite_app.humanize import DASH
from bqlite_app.state.auth import AuthState

EXPIRY_CHOICES = ["30", "90", "365", "never"]


@dataclasses.dataclass(frozen=True)
class TokenRow:
    id: str = ""
    name: str = ""
    created: str = ""
    expires: str = ""


def _when(ts: datetime | None) -> str:
    return DASH if ts is None else ts.strftime("%Y-%m-%d %H:%M UTC")


def token_row(token: ApiToken) -> TokenRow:
    return TokenRow(id=token.id, name=token.name, created=_when(token.created_at),
                    expires=_when(token.expires_at) if token.expires_at else "never")


def expiry_days(choice: str) -> int | None:
    return None if choice == "never" else int(choice)


class AccountState(AuthState):
    password_open: bool = False
    password_error: str = ""
    password_saved: bool = False

    tokens_open: bool = False
    tokens: list[TokenRow] = []
    token_expiry: str = "90"
    token_error: str = ""
    new_token_name: str = ""
    new_token_secret: str = ""

    # -- password ----------------------------------------------------------------------------------------------

    @rx.event
    def set_password_open(self, value: bool) -> None:
        self.password_open, self.password_error, self.password_saved = value, "", False

    @rx.event
    async def change_password(self, form: dict[str, Any]):
        current, new = str(form.get("current_password") or ""), str(form.get("new_password") or "")
        if new != str(form.get("confirm_password") or ""):
            self.password_error = "The new passwords do not match."
            return
        try:
            user = self.principal()
            await asyncio.to_thread(app_core().identity.change_password, user, current, new)
        except BqliteError as exc:
            self.password_error = exc.detail
            return
        self.password_error, self.password_saved = "", True
        yield rx.toast.success("Password changed")

    # -- API tokens --------------------------------------------------------------------------------------------

    @rx.event
    async def set_tokens_open(self, value: bool):
        self.tokens_open, self.token_error = value, ""
        self.new_token_secret, self.new_token_name = "", ""
        if value:
            await self._load_tokens()

    async def _load_tokens(self) -> None:
        try:
            user = self.principal()
            tokens = await asyncio.to_thread(app_core().identity.list_api_tokens, user)
            self.tokens = [token_row(t) for t in tokens]
        except BqliteError as exc:
            self.token_error = exc.detail

    @rx.event
    def set_token_expiry(self, value: str) -> None:
        self.token_expiry = value if value in EXPIRY_CHOICES else "90"

    @rx.event
    async def create_token(self, form: dict[str, Any]):
        name = str(form.get("name") or "").strip()
        self.token_error, self.new_token_secret = "", ""
        try:
            user = self.principal()
            token, secret = await asyncio.to_thread(app_core().identity.create_api_token, user, name,
                                                    expiry_days(self.token_expiry))
        except BqliteError as exc:
            self.token_error = exc.detail
            return
        self.new_token_name, self.new_token_secret = token.name, secret
        await self._load_tokens()

    @rx.event
    def forget_secret(self) -> None:
        self.new_token_secret, self.new_token_name = "", ""

    @rx.event
    async def revoke_token(self, token_id: str):
        try:
            user = self.principal()
            await asyncio.to_thread(app_core().identity.revoke_api_token, user, token_id)
        except BqliteError as exc:
            self.token_error = exc.detail
            return
        await self._load_tokens()
        yield rx.toast.info("Token revoked")
