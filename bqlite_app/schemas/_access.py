"""Who may do what with registered schemas (docs/api.md, "What each needs"): a schema's dataset is its
``database_name``. Registering or deleting needs ``owner`` (registering into a dataset nobody has yet makes the
registrant its owner), creating tables and ingesting need ``writer``, reading needs ``reader``.

Without grants (a registry built for tests or tools) nothing is checked; the audit log records what it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bqlite_app.access.audit import AuditLog
from bqlite_app.access.grants import Grants
from bqlite_app.access.principal import LOCAL, DatasetRole, Principal

# dataset -> whether anything lives in it already (registered schemas or engine tables).
DatasetInUse = Callable[[str], bool]


class SchemaAccess:
    def __init__(self, grants: Grants | None, audit: AuditLog | None) -> None:
        self.grants = grants
        self.audit = audit

    def require(self, user: Principal, dataset: str, role: DatasetRole, action: str) -> None:
        if self.grants is not None:
            self.grants.require(user, dataset, role, action=action)

    def before_register(self, user: Principal, dataset: str, in_use: DatasetInUse) -> bool:
        """Check a registration into ``dataset``; True when it creates the dataset (the caller then owns it)."""
        if self.grants is None or user.user_id == LOCAL.user_id:
            return False        # auth off: nobody to make an owner, and the built-in admin may do anything
        if not self.grants.dataset_exists(dataset) and not in_use(dataset):
            return True
        self.grants.require(user, dataset, "owner", action="schema.register")
        return False

    def created(self, user: Principal, dataset: str) -> None:
        if self.grants is not None and user.user_id != LOCAL.user_id:
            self.grants.make_owner(user.user_id, dataset)

    def readable(self, user: Principal) -> set[str] | None:
        return None if self.grants is None else self.grants.readable_datasets(user)

    def record(self, user: Principal, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        if self.audit is not None:
            self.audit.record(user, action, target=target, detail=detail)
