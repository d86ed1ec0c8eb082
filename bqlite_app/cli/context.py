"""What every command shares: the global options and one API client, created on first use.

The client (and httpx with it) is imported only when a command talks to the API, so ``--help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

from bqlite_app.cli import credentials
from bqlite_app.cli.output import emit_json
from bqlite_app.humanize import local_time

if TYPE_CHECKING:
    from bqlite_app.cli.client import ApiClient

LOGIN_HINT = "run `bqlite login`"


@dataclass
class CliContext:
    url: str
    raw_json: bool = False
    token: str | None = field(default=None, repr=False)  # --token or $BQLITE_TOKEN: beats a stored login
    token_option: str = "--token"                      # where `token` came from, to name it in messages
    _clients: list[ApiClient] = field(default_factory=list, repr=False)
    _client: ApiClient | None = field(default=None, repr=False)
    _stored: credentials.Credential | None | bool = field(default=False, repr=False)  # False: not read yet

    @property
    def stored(self) -> credentials.Credential | None:
        """The login `bqlite login` stored for this URL, if any (expired or not)."""
        if self._stored is False:
            self._stored = credentials.load(self.url)
        return self._stored  # type: ignore[return-value]

    @property
    def bearer(self) -> str | None:
        """The token every request carries: --token / $BQLITE_TOKEN, else a stored login that has not expired."""
        if self.token:
            return self.token
        stored = self.stored
        return stored.access_token if stored and not stored.expired else None

    @property
    def token_source(self) -> str:
        """Where the bearer token comes from, in words (never the token itself)."""
        if self.token:
            return self.token_option
        stored = self.stored
        if stored and not stored.expired:
            return f"the login stored in {credentials.credentials_path()}"
        return "none"

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            self._client = self.new_client(self.bearer)
        return self._client

    def new_client(self, token: str | None) -> ApiClient:
        """Another client for the same URL with this token (None: none); closed with the context."""
        from bqlite_app.cli.client import ApiClient

        client = ApiClient(self.url, token=token)
        self._clients.append(client)
        return client

    def login_hint(self) -> str:
        """What to do about a 401, given where the token came from."""
        url = credentials.url_key(self.url)
        if self.token:
            return f"The token from {self.token_option} was refused at {url}: check it, or unset it and " \
                   f"{LOGIN_HINT}."
        stored = self.stored
        if stored and stored.expired:
            return f"The login of {stored.username} to {url} expired at {local_time(stored.expires_at)}: {LOGIN_HINT}."
        if stored:
            return f"The stored login of {stored.username} to {url} was refused: {LOGIN_HINT} again."
        return f"Not logged in to {url}: {LOGIN_HINT}."

    def respond(self, answer: dict[str, Any], render: Callable[[dict[str, Any]], None]) -> None:
        """What a command prints: with --json the API's answer as it came, otherwise ``render(answer)`` for people."""
        if self.raw_json:
            emit_json(answer)
        else:
            render(answer)

    def close(self) -> None:
        for client in self._clients:
            client.close()


def cli_context(ctx: typer.Context) -> CliContext:
    """The root command's context object (commands receive their own ``ctx``; the options live at the root)."""
    return ctx.find_root().obj
