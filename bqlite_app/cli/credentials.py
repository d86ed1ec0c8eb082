"""Stored logins: ``$XDG_CONFIG_HOME/bqlite/credentials.json`` (default ``~/.config``), one entry per API URL.

The file holds bearer tokens, so it is created with mode 0600 in a 0700 directory and replaced atomically; nothing
here ever prints a token. The file is ``{url: {"url", "username", "access_token", "expires_at"}}``.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE_MODE = 0o600
DIR_MODE = 0o700


@dataclass(frozen=True)
class Credential:
    url: str
    username: str
    access_token: str
    expires_at: str | None  # ISO-8601 with a UTC offset; None: no known expiry

    @property
    def expired(self) -> bool:
        if not self.expires_at:
            return False
        try:
            return datetime.fromisoformat(self.expires_at) <= datetime.now(UTC)
        except ValueError:
            return False

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "username": self.username, "access_token": self.access_token,
                "expires_at": self.expires_at}


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    # The XDG spec: a relative value is invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "bqlite"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def url_key(url: str) -> str:
    return url.rstrip("/")


def _read() -> dict[str, Any]:
    try:
        data = json.loads(credentials_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, ValueError):
        return {}  # unreadable or corrupt: as if nobody had logged in (the next login rewrites it)
    return data if isinstance(data, dict) else {}


def load(url: str) -> Credential | None:
    entry = _read().get(url_key(url))
    if not isinstance(entry, dict) or not isinstance(entry.get("access_token"), str):
        return None
    return Credential(url=url_key(url), username=str(entry.get("username") or ""),
                      access_token=entry["access_token"], expires_at=entry.get("expires_at"))


def save(credential: Credential) -> Path:
    data = _read()
    data[url_key(credential.url)] = credential.to_json()
    return _write(data)


def remove(url: str) -> bool:
    """Forget the login for ``url``; the file goes when no login is left. Answers whether there was one."""
    data = _read()
    if data.pop(url_key(url), None) is None:
        return False
    if data:
        _write(data)
    else:
        credentials_path().unlink(missing_ok=True)
    return True


def _write(data: dict[str, Any]) -> Path:
    """Write the whole file as a new 0600 file and rename it into place: never a moment with looser permissions,
    never a half-written file."""
    path = credentials_path()
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path.parent, DIR_MODE)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2)
            file.write("\n")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
