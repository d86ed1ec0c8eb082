"""The face's own records (the catalog of dataset and table metadata, the jobs' configurations) over the core's
SQLite database: one instance of each per core, made on first use (tests run several cores in one process)."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Engine as SqlEngine

if TYPE_CHECKING:
    from bqlite_app.core import Core


class _OverDatabase(Protocol):
    def __init__(self, db: SqlEngine) -> None: ...


_Store = TypeVar("_Store", bound=_OverDatabase)
_STORES: weakref.WeakKeyDictionary[Any, dict[type, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def store(core: Core, kind: type[_Store]) -> _Store:
    """The core's ``kind``, built over ``core.db`` the first time it is asked for."""
    with _LOCK:
        stores = _STORES.setdefault(core, {})
        if kind not in stores:
            stores[kind] = kind(core.db)
        return stores[kind]
