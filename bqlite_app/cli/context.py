"""What every command shares: the global options and one API client, created on first use.

The client (and httpx with it) is imported only when a command talks to the API, so ``--help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

from bqlite_app.cli.output import emit_json

if TYPE_CHECKING:
    from bqlite_app.cli.client import ApiClient


@dataclass
class CliContext:
    url: str
    raw_json: bool = False
    _client: ApiClient | None = field(default=None, repr=False)

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            from bqlite_app.cli.client import ApiClient

            self._client = ApiClient(self.url)
        return self._client

    def respond(self, answer: dict[str, Any], render: Callable[[dict[str, Any]], None]) -> None:
        """What a command prints: with --json the API's answer as it came, otherwise ``render(answer)`` for people."""
        if self.raw_json:
            emit_json(answer)
        else:
            render(answer)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def cli_context(ctx: typer.Context) -> CliContext:
    """The root command's context object (commands receive their own ``ctx``; the options live at the root)."""
    return ctx.find_root().obj
