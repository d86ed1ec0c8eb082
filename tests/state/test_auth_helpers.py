"""The pure helpers behind sign-in, the explorer's dataset filter, the audit page and the token dialog."""

from datetime import UTC, datetime

import pytest

from bqlite_app.access.models import ApiToken
from bqlite_app.access.principal import LOCAL
from bqlite_app.errors import ValidationFailed
from bqlite_app.state import auth
from bqlite_app.state.account import expiry_days, token_row
from bqlite_app.state.audit import audit_row, parse_when
from bqlite_app.state.catalog import readable_tables
from engines.base import CatalogTable


def test_login_returns_only_to_paths_on_this_site():
    assert auth.login_path("/jobs/job_1?x=1") == "/login?next=%2Fjobs%2Fjob_1%3Fx%3D1"
    assert auth.login_path("https://evil.example/") == "/login"
    assert auth.login_path("//evil.example/") == "/login"
    assert auth.login_path("/login?next=/") == "/login"
    assert auth.safe_next("/schemas") == "/schemas"
    assert [auth.safe_next(v) for v in (None, "", "//evil.example", "http://evil.example", "/login")] == ["/"] * 5


def test_without_a_started_core_only_auth_off_acts_as_local(monkeypatch):
    class Unstarted:
        @property
        def identity(self):
            raise RuntimeError("the core has not been started")

    monkeypatch.setattr(auth, "app_core", Unstarted)
    monkeypatch.setattr(auth, "AUTH_ON", False)
    assert auth.authenticate("", "127.0.0.1") == LOCAL
    monkeypatch.setattr(auth, "AUTH_ON", True)
    with pytest.raises(auth.AuthRequired):
        auth.authenticate("forged", "127.0.0.1")


def test_the_core_is_asked_for_every_token(monkeypatch):
    seen = []

    class Identity:
        def authenticate(self, token, ip):
            seen.append((token, ip))
            return LOCAL

    class Core:
        identity = Identity()

    monkeypatch.setattr(auth, "app_core", Core)
    auth.authenticate("", "")
    auth.acting(("tok", "10.0.0.1"), lambda *, user: user)
    assert seen == [(None, None), ("tok", "10.0.0.1")]


def test_the_explorer_keeps_only_readable_datasets():
    tables = [CatalogTable(database="main", name="nyc_taxi", columns=[]),
              CatalogTable(database="sales", name="orders", columns=[]),
              CatalogTable(database="hr", name="people", columns=[])]
    assert readable_tables("duckdb", tables, None) == tables
    assert [t.name for t in readable_tables("duckdb", tables, {"default"})] == ["nyc_taxi"]
    assert [t.name for t in readable_tables("duckdb", tables, {"sales"})] == ["orders"]
    clickhouse = [CatalogTable(database="default", name="nyc_taxi", columns=[])]
    assert readable_tables("clickhouse", clickhouse, {"default"}) == clickhouse
    assert readable_tables("clickhouse", clickhouse, set()) == []


def test_audit_filters_read_times_as_utc_and_rows_show_the_detail():
    assert parse_when("", "since") is None
    assert parse_when("2026-01-31T12:30", "since") == datetime(2026, 1, 31, 12, 30, tzinfo=UTC)
    with pytest.raises(ValidationFailed):
        parse_when("yesterday", "since")
    row = audit_row({"id": 7, "ts": "2026-01-31T12:30:00.123456+00:00", "actor": "alice", "client_ip": None,
                     "action": "grant.set", "target": "sales/bob", "outcome": "ok", "detail": {"role": "reader"}})
    assert (row.id, row.ts, row.client_ip, row.detail) == (7, "2026-01-31 12:30:00 UTC", "", '{"role": "reader"}')


def test_token_rows_never_carry_the_secret():
    token = ApiToken(id="tok_1", user_id="usr_1", name="ci", token_hash="f" * 64,
                     created_at=datetime(2026, 1, 1, tzinfo=UTC))
    row = token_row(token)
    assert (row.name, row.created, row.expires) == ("ci", "2026-01-01 00:00 UTC", "never")
    assert "f" * 64 not in repr(row)
    assert (expiry_days("never"), expiry_days("90")) == (None, 90)
