"""One module per command group; ``bqlite_app.cli.main`` wires them into the ``bqlite`` app."""
