"""The ``bqlite`` command: the REST API from a terminal (typer + rich + httpx; never Reflex or the engines)."""
