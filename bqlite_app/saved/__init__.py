"""Saved queries: named SQL a user keeps, optionally shared read-only (docs/api.md, "Saved queries")."""

from bqlite_app.saved.models import SavedQueryNotFound, SavedQueryPublic, SavedQuerySummary, Sharing
from bqlite_app.saved.service import SavedQueries

__all__ = ["SavedQueries", "SavedQueryNotFound", "SavedQueryPublic", "SavedQuerySummary", "Sharing"]
