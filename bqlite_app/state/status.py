"""The status bar under every page: slots, queue and engine health, refreshed while the page is open.

The page drives the refresh (a timer in the browser calls ``refresh``), so nothing polls for a closed tab. Each tick
also asks the core whether the tab's token is still good, so a signed-out, revoked or deactivated session is sent
to the login page within seconds even when the user does nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses

import reflex as rx

from bqlite_app.core import app_core
from bqlite_app.errors import AuthRequired
from bqlite_app.state.auth import AuthState, authenticate, login_path

REFRESH_MS = 3000


@dataclasses.dataclass
class EngineHealth:
    name: str
    healthy: bool
    detail: str         # "embedded · 26.1.2"


class StatusState(AuthState):
    slots_in_use: int = 0
    total_slots: int = 0
    queued_jobs: int = 0
    running_jobs: int = 0
    engines: list[EngineHealth] = []
    reachable: bool = True
    loaded: bool = False

    _refreshing: bool = False

    @rx.var
    def slots_label(self) -> str:
        return f"{self.slots_in_use} / {self.total_slots} slots"

    @rx.event(background=True)
    async def refresh(self):
        async with self:
            if self._refreshing:
                return
            self._refreshing = True
            credentials, path = self._credentials(), self._current_path()
        try:
            await asyncio.to_thread(authenticate, *credentials)
            status = await asyncio.to_thread(app_core().status)
        except AuthRequired:
            yield rx.redirect(login_path(path), replace=True)
            return
        except Exception:  # the core is starting or stopping: say so rather than fail the page
            async with self:
                self.reachable = False
            return
        finally:
            async with self:
                self._refreshing = False
        async with self:
            self.reachable = self.loaded = True
            self.total_slots = status["total_slots"]
            self.slots_in_use = status["total_slots"] - status["available_slots"]
            self.queued_jobs = status["queued_jobs"]
            self.running_jobs = status["running_jobs"]
            self.engines = [EngineHealth(name=name, healthy=bool(info["available"]),
                                         detail=f"{info.get('label') or info['mode']} · {info['version']}")
                            for name, info in status["engines"].items()]
