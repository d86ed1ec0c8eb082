"""Saved queries in the workspace: the sidebar's "Saved" list (search, open in a new tab, rename, update from the
tab, delete) and the Save dialog (Ctrl+S or the toolbar's Save).

``SavedMixin`` is part of ``WorkspaceState``, so it reads the active tab and opens new ones directly. Every core call
(``core.saved``, the same rules as REST) runs in a worker thread outside ``async with self``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import reflex as rx

from bqlite_app.core import app_core
from bqlite_app.errors import BqliteError
from bqlite_app.saved import SavedQueryPublic, SavedQuerySummary
from bqlite_app.state.auth import acting

SHARING_CHOICES = [("private", "Only me"), ("users", "Chosen users (read-only)"), ("everyone", "Everyone (read-only)")]
# Default tab titles ("Query 3") are not names worth proposing in the Save dialog.
_UNTITLED_PREFIX = "Query "


@dataclasses.dataclass
class SavedItem:
    id: str
    name: str
    description: str
    engine: str
    owner: str
    sharing: str
    can_edit: bool
    updated: str        # "2026-12-02 14:05" (UTC), for the tooltip
    shared_with: str    # "alice, bob": the owner's own view of whom it is shared with


def saved_item(summary: SavedQuerySummary) -> SavedItem:
    return SavedItem(id=summary.id, name=summary.name, description=summary.description, engine=summary.engine,
                     owner=summary.owner, sharing=summary.sharing.value, can_edit=summary.can_edit,
                     updated=summary.updated_at[:16].replace("T", " "), shared_with=", ".join(summary.shared_with))


def usernames(text: str) -> list[str]:
    """``"alice, bob  carol"`` -> ``["alice", "bob", "carol"]``."""
    return [name for name in text.replace(",", " ").split() if name]


def _list(q: str, *, user: Any) -> list[SavedItem]:
    items, _total = app_core().saved.list(user=user, q=q or None, limit=500)
    return [saved_item(item) for item in items]


def _get(saved_id: str, *, user: Any) -> SavedQueryPublic:
    return app_core().saved.get(saved_id, user=user)


def _save(spec: dict[str, Any], *, user: Any) -> SavedQueryPublic:
    saved = app_core().saved
    target = spec.pop("id", "")
    return saved.update(target, user=user, **spec) if target else saved.create(user=user, **spec)


def _delete(saved_id: str, *, user: Any) -> None:
    app_core().saved.delete(saved_id, user=user)


def _workspace() -> Any:
    """The concrete state, whose events a mixin's background events chain to (imported late: it imports us)."""
    from bqlite_app.state.workspace import WorkspaceState

    return WorkspaceState


class SavedMixin(rx.State, mixin=True):
    """The "Saved" sidebar tab and the Save dialog (state of ``WorkspaceState``)."""

    saved_items: list[SavedItem] = []
    saved_search: str = ""
    saved_loading: bool = False
    saved_error: str = ""
    saved_notice: str = ""

    # The Save dialog: a new saved query, or (``save_target`` set) an update of the one the tab came from.
    save_open: bool = False
    save_target: str = ""
    save_target_name: str = ""
    save_name: str = ""
    save_description: str = ""
    save_sharing: str = "private"
    save_shared_with: str = ""
    save_error: str = ""
    save_busy: bool = False

    # Rename and delete, one saved query at a time.
    rename_id: str = ""
    rename_name: str = ""
    rename_error: str = ""
    delete_id: str = ""
    delete_name: str = ""

    # Which saved query each tab was opened from or saved as (tab id -> saved id), for "update" on the next save.
    _tab_saved: dict[str, str] = {}
    _saved_seq: int = 0

    # -- the list -----------------------------------------------------------------------------------------------

    @rx.event(background=True)
    async def load_saved(self):
        async with self:
            self._saved_seq += 1
            seq, q, credentials = self._saved_seq, self.saved_search, self._credentials()  # type: ignore[attr-defined]
            self.saved_loading = True
        try:
            items, error = await asyncio.to_thread(acting, credentials, _list, q), ""
        except BqliteError as exc:
            items, error = None, exc.detail
        async with self:
            if seq != self._saved_seq:
                return
            self.saved_loading = False
            self.saved_error = error
            if items is not None:
                self.saved_items = items

    @rx.event
    def set_saved_search(self, value: str):
        self.saved_search = value[:200]
        self.saved_notice = ""
        return _workspace().load_saved

    @rx.event(background=True)
    async def open_saved(self, saved_id: str):
        """Open a saved query in a new tab, named after it."""
        async with self:
            credentials = self._credentials()  # type: ignore[attr-defined]
        try:
            saved = await asyncio.to_thread(acting, credentials, _get, saved_id)
        except BqliteError as exc:
            async with self:
                self.saved_error = exc.detail
            yield _workspace().load_saved
            return
        async with self:
            state: Any = self
            state._add_tab(saved.sql, saved.engine, title=saved.name)
            state._show_active_tab()
            if saved.can_edit:
                self._tab_saved = {**self._tab_saved, state.active_id: saved.id}
            self.saved_error, self.saved_notice = "", ""
        yield _workspace().dry_run

    # -- the Save dialog ----------------------------------------------------------------------------------------

    @rx.event
    def open_save_dialog(self):
        """Ctrl+S or the toolbar's Save: update the saved query this tab came from, or save it under a new name."""
        self._open_save_dialog()

    def _open_save_dialog(self) -> None:
        state: Any = self
        tab = state._active_tab()
        if tab is None:
            return
        target = self._tab_saved.get(tab.id, "")
        known = {item.id: item for item in self.saved_items}
        item = known.get(target)
        self.save_target = target
        self.save_target_name = item.name if item else tab.title if target else ""
        self.save_name = "" if tab.title.startswith(_UNTITLED_PREFIX) else tab.title
        self.save_description = item.description if item else ""
        self.save_sharing = item.sharing if item else "private"
        self.save_shared_with = item.shared_with if item else ""
        self.save_error = ""
        self.save_open = True

    @rx.event
    def save_shortcut(self, text: str, selection: str):
        """Ctrl+S in the editor: take its latest text (its own changes reach the state debounced), then open."""
        state: Any = self
        tab = state._active_tab()
        if tab is not None and isinstance(text, str) and tab.sql != text:
            state.editor_text = text
            state._update_tab(sql=text)
        self._open_save_dialog()

    @rx.event
    def set_save_open(self, value: bool):
        if not self.save_busy:      # a save in flight keeps the dialog open until it answers
            self.save_open = bool(value)

    @rx.event
    def set_save_name(self, value: str):
        self.save_name = value

    @rx.event
    def set_save_description(self, value: str):
        self.save_description = value

    @rx.event
    def set_save_sharing(self, value: str):
        self.save_sharing = value if value in {choice for choice, _ in SHARING_CHOICES} else "private"

    @rx.event
    def set_save_shared_with(self, value: str):
        self.save_shared_with = value

    @rx.event(background=True)
    async def save_as_new(self):
        if await self._save(update=False):
            yield _workspace().load_saved

    @rx.event(background=True)
    async def save_update(self):
        if await self._save(update=True):
            yield _workspace().load_saved

    async def _save(self, *, update: bool) -> bool:
        async with self:
            state: Any = self
            tab = state._active_tab()
            if self.save_busy or tab is None:
                return False
            sql = tab.sql
            spec: dict[str, Any] = {"sql": sql, "engine": tab.engine, "description": self.save_description}
            if update and self.save_target:
                spec["id"] = self.save_target
            else:
                spec["name"] = self.save_name.strip()
            if self.save_sharing == "users":
                spec["shared_with"] = usernames(self.save_shared_with) if self.save_shared_with.strip() else None
                spec["sharing"] = "users"
            else:
                spec["sharing"] = self.save_sharing
            tab_id, credentials = tab.id, state._credentials()
            self.save_busy, self.save_error = True, ""
        try:
            saved, error = await asyncio.to_thread(acting, credentials, _save, spec), ""
        except BqliteError as exc:
            saved, error = None, exc.detail
        async with self:
            state = self
            self.save_busy = False
            if saved is None:
                self.save_error = error
                return False
            self.save_open = False
            self._tab_saved = {**self._tab_saved, tab_id: saved.id}
            state.tabs = [dataclasses.replace(t, title=saved.name) if t.id == tab_id else t for t in state.tabs]
            state._save_tabs()
            self.saved_notice = f"Saved “{saved.name}”"
        return True

    # -- rename, update from the tab, delete ---------------------------------------------------------------------

    @rx.event
    def start_rename(self, saved_id: str, name: str):
        self.rename_id, self.rename_name, self.rename_error = saved_id, name, ""

    @rx.event
    def set_rename_name(self, value: str):
        self.rename_name = value

    @rx.event
    def set_rename_open(self, value: bool):
        if not value:
            self.rename_id, self.rename_error = "", ""

    @rx.event(background=True)
    async def submit_rename(self):
        async with self:
            saved_id, name, credentials = self.rename_id, self.rename_name.strip(), self._credentials()  # type: ignore[attr-defined]
        error = await self._change({"id": saved_id, "name": name}, credentials)
        async with self:
            state: Any = self
            self.rename_error = error
            if not error:
                self.rename_id = ""
                tab_ids = {tab for tab, saved in self._tab_saved.items() if saved == saved_id}
                state.tabs = [dataclasses.replace(t, title=name) if t.id in tab_ids else t for t in state.tabs]
                state._save_tabs()
        if not error:
            yield _workspace().load_saved

    @rx.event(background=True)
    async def update_from_tab(self, saved_id: str):
        """Replace a saved query's SQL and engine with the active tab's."""
        async with self:
            state: Any = self
            tab = state._active_tab()
            if tab is None:
                return
            spec = {"id": saved_id, "sql": tab.sql, "engine": tab.engine}
            tab_id, credentials = tab.id, state._credentials()
        error = await self._change(spec, credentials)
        async with self:
            self.saved_error = error
            if not error:
                self._tab_saved = {**self._tab_saved, tab_id: saved_id}
                self.saved_notice = "Updated from the current tab"
        if not error:
            yield _workspace().load_saved

    @rx.event
    def ask_delete(self, saved_id: str, name: str):
        self.delete_id, self.delete_name = saved_id, name

    @rx.event
    def set_delete_open(self, value: bool):
        if not value:
            self.delete_id, self.delete_name = "", ""

    @rx.event(background=True)
    async def confirm_delete(self):
        async with self:
            saved_id, credentials = self.delete_id, self._credentials()  # type: ignore[attr-defined]
            self.delete_id, self.delete_name = "", ""
        if not saved_id:
            return
        try:
            await asyncio.to_thread(acting, credentials, _delete, saved_id)
            error = ""
        except BqliteError as exc:
            error = exc.detail
        async with self:
            self.saved_error = error
            self.saved_notice = "" if error else "Deleted"
            self._tab_saved = {tab: saved for tab, saved in self._tab_saved.items() if saved != saved_id}
        yield _workspace().load_saved

    async def _change(self, spec: dict[str, Any], credentials: tuple[str, str | None]) -> str:
        try:
            await asyncio.to_thread(acting, credentials, _save, spec)
        except BqliteError as exc:
            return exc.detail
        return ""
