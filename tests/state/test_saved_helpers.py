"""The Saved panel's pure helpers."""

from __future__ import annotations

from bqlite_app.saved.models import SavedQuerySummary, Sharing
from bqlite_app.state.saved import saved_item, usernames


def test_usernames_split_on_commas_and_spaces():
    assert usernames(" alice, bob  carol,,") == ["alice", "bob", "carol"]
    assert usernames("") == []


def test_saved_item_shows_minutes_in_utc():
    summary = SavedQuerySummary(id="sq_0123456789abcdef", name="n", description="d", engine="duckdb", owner="alice",
                                sharing=Sharing.USERS, shared_with=["bob", "carol"],
                                created_at="2026-12-02T14:05:09+00:00", updated_at="2026-12-02T14:05:09.123+00:00",
                                can_edit=False)
    item = saved_item(summary)
    assert (item.updated, item.sharing, item.can_edit) == ("2026-12-02 14:05", "users", False)
    assert item.shared_with == "bob, carol"
