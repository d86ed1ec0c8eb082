"""Reflex configuration, built from the one Settings object.

Ports are passed on the command line by scripts/run.sh (Reflex refuses a frontend port on a backend-only run).
"""

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from bqlite_app.settings import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="bqlite_app",
    api_url=_settings.api_url,
    deploy_url=f"http://{_settings.host}:{_settings.ui_port}",
    backend_host=_settings.host,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    # Also python-socketio's origin check for the UI's websocket: never empty (that turns the check off) nor "*".
    cors_allowed_origins=_settings.allowed_origins,
    disable_plugins=[SitemapPlugin],
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="blue", gray_color="slate", radius="medium"))],
)
