"""The process-wide core shared by the REST routes and the Reflex states (which call it in process)."""

from bqlite_app.core import Core
from bqlite_app.settings import get_settings

core = Core(get_settings())
