"""docs/api.md is the API reference in the repo: every route the API serves is written down there."""

from pathlib import Path

from bqlite_app.api import create_api
from bqlite_app.core import Core
from bqlite_app.settings import Settings

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_route_is_in_docs_api_md():
    paths = create_api(Core(Settings(), engines={})).openapi()["paths"]
    served = {f"{method.upper()} {path}" for path, methods in paths.items() for method in methods}
    assert len(served) > 20
    text = API_DOC.read_text()
    assert sorted(route for route in served if route not in text) == []
