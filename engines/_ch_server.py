"""Reaching a ClickHouse server over HTTP(S): where it is, how its clients share one connection pool, timeouts, TLS,
and retrying idempotent reads when the connection drops.

The password lives in ``ServerAddress`` only (never in its repr) and goes to clickhouse-connect, which sends it as a
header; nothing here logs it or puts it in an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.exceptions import OperationalError
from clickhouse_connect.driver.httputil import get_pool_manager

T = TypeVar("T")
# Lost connections are retried after 0.1 s, 0.2 s, 0.4 s...: a restarting server gets about a second.
_BACKOFF_S = 0.1


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int = 8123
    user: str = "default"
    password: str = field(default="", repr=False)
    secure: bool = False
    ca_file: Path | None = None     # a CA bundle (PEM) for a server certificate the system does not trust
    verify: bool = True             # check the server's certificate (with secure); off only for a test rig
    connect_timeout_s: float = 10.0
    send_receive_timeout_s: float = 300.0

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def client_factory(address: ServerAddress, pool_size: int) -> Callable[[], Any]:
    """A function making clickhouse-connect clients for ``address`` that share one pool of ``pool_size`` kept-alive
    connections (one per query client plus the control client), instead of a pool each."""
    pool = get_pool_manager(maxsize=pool_size, ca_cert=str(address.ca_file) if address.ca_file else None,
                            verify=address.verify)

    def connect() -> Any:
        # One session per client would make concurrent calls on the control client fail with "session locked".
        return clickhouse_connect.get_client(
            host=address.host, port=address.port, username=address.user, password=address.password,
            secure=address.secure, verify=address.verify,
            ca_cert=str(address.ca_file) if address.ca_file else None,
            connect_timeout=address.connect_timeout_s, send_receive_timeout=address.send_receive_timeout_s,
            pool_mgr=pool, autogenerate_session_id=False)

    return connect


def connection_lost(exc: BaseException) -> bool:
    """The server was not reached or the connection dropped (no ClickHouse error code): trying again may work."""
    return isinstance(exc, OperationalError) and getattr(exc, "code", None) is None


def retrying(read: Callable[[], T], attempts: int) -> T:
    """Run ``read``, again with backoff while the connection is lost, at most ``attempts`` times in all.

    Only for reads that change nothing (a catalog lookup, a plan, a SELECT that has yielded no rows yet): a write
    whose connection dropped may have been applied, so it is never repeated.
    """
    attempts = max(1, attempts)
    for attempt in range(attempts):
        try:
            return read()
        except OperationalError as exc:
            if not connection_lost(exc) or attempt == attempts - 1:
                raise
            pause_before_retry(attempt)
    raise AssertionError("unreachable")


def pause_before_retry(attempt: int) -> None:
    time.sleep(_BACKOFF_S * 2 ** attempt)
