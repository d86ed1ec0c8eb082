"""The running app as `make run` starts it: REST at the backend root, Reflex alive beside it, the UI served."""

import httpx

from tests.e2e.conftest import ARTIFACTS


def test_rest_routes_stand_at_the_backend_root(live_app):
    with httpx.Client(base_url=live_app.api_url, timeout=30) as http:
        assert http.get("/").json()["service"] == "BigQuery-Lite"
        job_id = http.post("/queries", json={"sql": "SELECT count(*) FROM nyc_taxi", "engine": "clickhouse"}
                           ).json()["job_id"]
        result = http.get(f"/jobs/{job_id}/result", params={"timeout_ms": 30000}).json()
        assert result["rows"] == [[2000]]
        missing = http.get("/no/such/route")
        assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"
        assert http.get("/ping").status_code == 200  # Reflex's own backend routes still answer
        assert "swagger-ui-bundle.js" in http.get("/docs").text
        assert http.get("/metrics").text.count("bqlite_http_requests_total") > 0


def test_ui_page_loads_without_errors_or_outside_requests(live_app, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors, outside, missing = [], [], []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("response", lambda response: response.status >= 400 and missing.append(response.url))
    page.on("request", lambda request: request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:"))
            or outside.append(request.url))
    page.goto(live_app.ui_url, wait_until="networkidle")
    page.get_by_role("textbox", name="SQL editor").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "landing.png"))
    assert outside == []
    assert missing == [] and errors == []
    page.close()
