"""``python -m bqlite_app.cli``: the same as the installed ``bqlite`` command."""

from bqlite_app.cli.main import app

app(prog_name="bqlite")
