"""Who is asking: the identity every core call acts for, whatever face it came through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "member"]
DatasetRole = Literal["reader", "writer", "owner"]
# Dataset roles in increasing power: a writer may read, an owner may write.
DATASET_ROLES: tuple[DatasetRole, ...] = ("reader", "writer", "owner")


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role
    user_id: str
    client_ip: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# With BQLITE_AUTH=off every request acts as this built-in admin, as the app did before it had users.
LOCAL = Principal(username="local", role="admin", user_id="local")


def role_at_least(held: DatasetRole | None, needed: DatasetRole) -> bool:
    return held is not None and DATASET_ROLES.index(held) >= DATASET_ROLES.index(needed)
