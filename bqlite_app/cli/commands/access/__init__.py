"""Identity, access and audit: ``bqlite login|logout|whoami|password``, ``users``, ``grants``, ``tokens``, ``audit``.

One module a command group, the commands ``bqlite_app.cli.main`` registers named here. Passwords are only ever read
from a terminal with echo off or from stdin (``prompts``), never from an argument. Tokens are never printed, except an
API token's secret once, by ``tokens create``.
"""

from bqlite_app.cli.commands.access.audit import audit
from bqlite_app.cli.commands.access.grants import grants_app
from bqlite_app.cli.commands.access.session import login, logout, password, whoami
from bqlite_app.cli.commands.access.tokens import tokens_app
from bqlite_app.cli.commands.access.users import users_app

__all__ = ["audit", "grants_app", "login", "logout", "password", "tokens_app", "users_app", "whoami"]
