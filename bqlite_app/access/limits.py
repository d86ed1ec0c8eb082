"""Rate limits (docs/api.md, "Limits"): per user on the busy route groups, and on failed logins per username and client.

Built on the ``limits`` library, in memory, or in Redis when ``BQLITE_REDIS_URL`` is set (so several app processes
share the counts). Nothing is limited with auth off: the single local user is never throttled.
"""

from __future__ import annotations

import math
import time
from typing import Literal

from limits import RateLimitItem, RateLimitItemPerMinute, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from bqlite_app.access.principal import Principal
from bqlite_app.errors import RateLimited
from bqlite_app.settings import Settings

RouteGroup = Literal["queries", "schemas", "ingest"]

# More than this many failed logins for one username from one client within the window is refused (docs/api.md).
LOGIN_FAILURES = 5
LOGIN_WINDOW_MINUTES = 15


class Limiter:
    def __init__(self, settings: Settings) -> None:
        self._enabled = settings.auth_on
        storage: Storage = storage_from_string(settings.redis_url) if settings.redis_url else MemoryStorage()
        # Not fixed windows: those let a client spend twice the limit across a boundary. Requests use a sliding
        # window counter (constant work per hit, whatever the limit); failed logins, five at most, an exact moving
        # window.
        self._requests = SlidingWindowCounterRateLimiter(storage)
        self._limiter = MovingWindowRateLimiter(storage)
        self._rate: RateLimitItem = parse(settings.rate_limit)
        self._logins: RateLimitItem = RateLimitItemPerMinute(LOGIN_FAILURES, LOGIN_WINDOW_MINUTES)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def hit_rate(self, principal: Principal, route_group: RouteGroup) -> None:
        """Count one request of ``principal`` on ``route_group``; raise ``RateLimited`` when over the limit."""
        if not self._enabled:
            return
        key = ("rate", route_group, principal.user_id)
        if not self._requests.hit(self._rate, *key):
            wait = max(1, math.ceil(self._requests.get_window_stats(self._rate, *key).reset_time - time.time()))
            raise RateLimited(f"Too many requests to the {route_group} routes (limit {self._rate}); "
                              f"try again in {wait} s.", retry_after=wait)

    def login_failed(self, username: str, client_ip: str | None) -> None:
        """Count a failed login (or a wrong current password) for this username from this client."""
        if self._enabled:
            self._limiter.hit(self._logins, *self._login_key(username, client_ip))

    def login_blocked(self, username: str, client_ip: str | None) -> int | None:
        """Seconds until the next attempt is allowed when this username and client are locked out, else None."""
        if not self._enabled:
            return None
        key = self._login_key(username, client_ip)
        if self._limiter.test(self._logins, *key):
            return None
        return self._retry_after(self._logins, key)

    def login_succeeded(self, username: str, client_ip: str | None) -> None:
        # A good login forgives earlier typos, so a user who got in is not locked out by their own history.
        if self._enabled:
            self._limiter.clear(self._logins, *self._login_key(username, client_ip))

    def _retry_after(self, item: RateLimitItem, key: tuple[str, ...]) -> int:
        reset = self._limiter.get_window_stats(item, *key).reset_time
        return max(1, math.ceil(reset - time.time()))

    @staticmethod
    def _login_key(username: str, client_ip: str | None) -> tuple[str, ...]:
        # Usernames are matched case-sensitively at login, so the key is too; the address may be unknown in tests.
        return ("login", username, client_ip or "-")
