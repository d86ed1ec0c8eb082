"""Per-user quotas (docs/api.md, "Limits"; only when auth is on).

``BQLITE_USER_MAX_RUNNING`` is enforced by the scheduler's queue (a user's extra jobs wait). ``BQLITE_USER_DAILY_BYTES``
is checked here before a job exists: the bytes the user's jobs processed since UTC midnight, plus the dry-run estimate
of the new query, must stay within it (BigQuery's custom per-user quota).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time

from bqlite_app.access.principal import Principal
from bqlite_app.errors import QuotaExceeded
from bqlite_app.settings import Settings

# (username, since) -> bytes processed by that user's jobs created since then.
BytesSince = Callable[[str, datetime], int]


def user_max_running(settings: Settings) -> int | None:
    """The scheduler's per-user running limit: none with auth off (everyone is ``local``)."""
    return settings.user_max_running if settings.auth_on else None


def utc_midnight(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)


class Quotas:
    def __init__(self, settings: Settings, bytes_since: BytesSince) -> None:
        self._settings = settings
        self._bytes_since = bytes_since

    @property
    def daily_bytes(self) -> int | None:
        """The daily byte limit in force (None: unlimited, or auth is off)."""
        return self._settings.user_daily_bytes if self._settings.auth_on else None

    def used_today(self, user: Principal) -> int:
        return self._bytes_since(user.username, utc_midnight())

    def check_daily_bytes(self, user: Principal, estimate: int) -> None:
        """Raise ``QuotaExceeded`` when today's bytes plus ``estimate`` would pass the user's daily limit."""
        limit = self.daily_bytes
        if limit is None:
            return
        used = self.used_today(user)
        if used + max(0, estimate) > limit:
            raise QuotaExceeded(
                f"Daily quota exceeded: {user.username}'s jobs processed {used:,} bytes since 00:00 UTC and this "
                f"query would process about {estimate:,} more; the limit is {limit:,} bytes per day "
                "(BQLITE_USER_DAILY_BYTES)")
