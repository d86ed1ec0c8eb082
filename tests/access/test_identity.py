"""The identity service on a real SQLite file with real Argon2 and PyJWT: sign-in, tokens, users, first admin."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from sqlmodel import Session, SQLModel, select

from bqlite_app.access.audit import AuditLog, AuditQuery
from bqlite_app.access.grants import Grants
from bqlite_app.access.identity import INITIAL_PASSWORD_FILE, SECRET_KEY_FILE, Identity
from bqlite_app.access.models import AuditEvent, User
from bqlite_app.access.principal import LOCAL
from bqlite_app.core import refuse_open_host_without_auth
from bqlite_app.db import open_database
from bqlite_app.errors import (
    AccessDenied,
    ApiTokenNotFound,
    AuthRequired,
    RateLimited,
    UserNotFound,
    ValidationConflict,
    ValidationFailed,
)
from bqlite_app.settings import Settings

ADMIN_PASSWORD = "first-admin-pass-0042"
MEMBER_PASSWORD = "member-pass-secret-0007"


def make_identity(data_dir: Path, **overrides: object) -> Identity:
    settings = Settings(data_dir=data_dir, auth="on", **overrides)  # type: ignore[arg-type]
    data_dir.mkdir(parents=True, exist_ok=True)
    database = open_database(settings.db_path)
    db = database.engine
    SQLModel.metadata.create_all(db)
    audit = AuditLog(database)
    identity = Identity(db, settings, audit, grants=Grants(db, settings, audit))
    identity.bootstrap()
    return identity


@pytest.fixture
def identity(tmp_path: Path) -> Iterator[Identity]:
    yield make_identity(tmp_path / "data", admin_password=ADMIN_PASSWORD)


def admin_of(identity: Identity):
    return identity.authenticate(identity.login("admin", ADMIN_PASSWORD, "10.0.0.1").access_token, "10.0.0.1")


def events(identity: Identity, action: str) -> list[AuditEvent]:
    found, _total = identity.audit.list(AuditQuery(action=action, limit=1000))
    return found


def test_first_admin_from_settings_signs_in(identity: Identity) -> None:
    admin = admin_of(identity)
    assert (admin.username, admin.role, admin.client_ip) == ("admin", "admin", "10.0.0.1")
    assert not (identity.settings.data_dir / INITIAL_PASSWORD_FILE).exists()
    key = identity.settings.data_dir / SECRET_KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # A second bootstrap (a restart) neither creates another admin nor changes the key.
    before = key.read_text()
    identity.bootstrap()
    assert key.read_text() == before
    assert len(identity.list_users()) == 1


def test_generated_first_admin_password_is_written_not_logged(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    identity = make_identity(tmp_path / "data")
    path = identity.settings.data_dir / INITIAL_PASSWORD_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    assert len(password) >= 12
    assert str(path) in caplog.text and password not in caplog.text
    assert identity.login("admin", password, None).expires_in == identity.settings.token_ttl_s


def test_bad_credentials_answer_alike_for_unknown_and_known_users(identity: Identity) -> None:
    with pytest.raises(AuthRequired) as wrong_password:
        identity.login("admin", "not-the-password", "10.0.0.2")
    with pytest.raises(AuthRequired) as no_such_user:
        identity.login("nobody", "not-the-password", "10.0.0.2")
    assert wrong_password.value.detail == no_such_user.value.detail
    failed = [e for e in events(identity, "auth.login") if e.outcome == "failed"]
    assert [e.actor for e in failed] == ["nobody", "admin"]


def test_sixth_failed_login_is_rate_limited_per_username_and_client(identity: Identity) -> None:
    for _ in range(5):
        with pytest.raises(AuthRequired):
            identity.login("admin", "wrong-password!", "10.0.0.3")
    with pytest.raises(RateLimited) as limited:
        identity.login("admin", ADMIN_PASSWORD, "10.0.0.3")  # even the right password: the client is locked out
    assert 1 <= (limited.value.retry_after or 0) <= 15 * 60
    # Another client, or another username from the same client, is not affected.
    assert identity.login("admin", ADMIN_PASSWORD, "10.0.0.4").access_token
    with pytest.raises(AuthRequired):
        identity.login("someone", "wrong-password!", "10.0.0.3")


def test_tokens_expired_tampered_or_foreign_are_refused(identity: Identity) -> None:
    admin = admin_of(identity)
    key = identity._signing_key()
    now = datetime.now(UTC)
    expired = jwt.encode({"sub": admin.user_id, "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)},
                         key, algorithm="HS256")
    good = identity.issue_token(admin.user_id).access_token
    head, body, signature = good.split(".")
    tampered = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{signature}"
    foreign = jwt.encode({"sub": admin.user_id, "iat": now, "exp": now + timedelta(hours=1)},
                         "another-key-of-sufficient-length-0123456789", algorithm="HS256")
    unsigned = jwt.encode({"sub": admin.user_id, "iat": now, "exp": now + timedelta(hours=1)}, None,
                          algorithm="none")
    for token in (expired, tampered, foreign, unsigned, "garbage", "bql_not-a-token", ""):
        with pytest.raises(AuthRequired):
            identity.authenticate(token, None)
    with pytest.raises(AuthRequired):
        identity.authenticate(None, None)
    assert identity.authenticate(good, None).username == "admin"


def test_api_tokens_are_hashed_listed_and_revoked(identity: Identity) -> None:
    admin = admin_of(identity)
    token, secret = identity.create_api_token(admin, "ci", 30)
    assert secret.startswith("bql_") and token.token_hash not in secret and secret not in token.token_hash
    assert identity.authenticate(secret, None).username == "admin"
    assert [t.id for t in identity.list_api_tokens(admin)] == [token.id]
    identity.revoke_api_token(admin, token.id)
    with pytest.raises(AuthRequired):
        identity.authenticate(secret, None)
    assert identity.list_api_tokens(admin) == []
    with pytest.raises(ApiTokenNotFound):
        identity.revoke_api_token(admin, token.id)


def test_deactivation_deletion_and_role_changes_apply_to_existing_tokens(identity: Identity) -> None:
    admin = admin_of(identity)
    identity.create_user(admin, "ann", MEMBER_PASSWORD, "member")
    jwt_token = identity.login("ann", MEMBER_PASSWORD, None).access_token
    _, api_token = identity.create_api_token(identity.authenticate(jwt_token, None), "script", None)
    assert identity.authenticate(api_token, None).role == "member"

    identity.update_user(admin, "ann", role="admin")
    assert identity.authenticate(jwt_token, None).role == "admin"
    identity.update_user(admin, "ann", role="member")

    identity.update_user(admin, "ann", active=False)
    for token in (jwt_token, api_token):
        with pytest.raises(AuthRequired):
            identity.authenticate(token, None)
    with pytest.raises(AuthRequired):
        identity.login("ann", MEMBER_PASSWORD, None)
    identity.update_user(admin, "ann", active=True)
    for token in (jwt_token, api_token):   # deactivation ended both for good: reactivating revives neither
        with pytest.raises(AuthRequired):
            identity.authenticate(token, None)
    jwt_token = identity.login("ann", MEMBER_PASSWORD, None).access_token
    assert identity.authenticate(jwt_token, None).username == "ann"

    identity.delete_user(admin, "ann")
    identity.create_user(admin, "ann", MEMBER_PASSWORD, "member")
    with pytest.raises(AuthRequired):  # the new "ann" is another user: the old token stays dead
        identity.authenticate(jwt_token, None)
    with pytest.raises(UserNotFound):
        identity.get_user("nobody")


def test_new_members_get_the_default_grants(identity: Identity) -> None:
    admin = admin_of(identity)
    identity.create_user(admin, "bob", MEMBER_PASSWORD, "member")
    bob = identity.authenticate(identity.login("bob", MEMBER_PASSWORD, None).access_token, None)
    assert identity.grants.grants_of(bob) == [{"dataset": "default", "role": "reader"}]


def test_the_last_active_admin_is_protected(identity: Identity) -> None:
    admin = admin_of(identity)
    for change in ({"role": "member"}, {"active": False}):
        with pytest.raises(ValidationConflict):
            identity.update_user(admin, "admin", **change)  # type: ignore[arg-type]
    with pytest.raises(ValidationConflict):
        identity.delete_user(admin, "admin")
    identity.create_user(admin, "root2", MEMBER_PASSWORD, "admin")
    identity.update_user(admin, "admin", role="member")  # another admin exists now
    with pytest.raises(ValidationConflict):
        identity.delete_user(admin, "root2")
    with pytest.raises(ValidationConflict):
        identity.create_user(admin, "root2", MEMBER_PASSWORD, "member")


def test_only_admins_manage_users_and_inputs_are_checked(identity: Identity) -> None:
    admin = admin_of(identity)
    identity.create_user(admin, "carl", MEMBER_PASSWORD, "member")
    carl = identity.authenticate(identity.login("carl", MEMBER_PASSWORD, None).access_token, None)
    with pytest.raises(AccessDenied):
        identity.create_user(carl, "dave", MEMBER_PASSWORD, "member")
    with pytest.raises(AccessDenied):
        identity.delete_user(carl, "admin")
    for name, password, role in (("eve", "short", "member"), ("bad name", MEMBER_PASSWORD, "member"),
                                 ("local", MEMBER_PASSWORD, "member"), ("eve", MEMBER_PASSWORD, "root")):
        with pytest.raises(ValidationFailed):
            identity.create_user(admin, name, password, role)


def test_password_change(identity: Identity) -> None:
    admin = admin_of(identity)
    with pytest.raises(AccessDenied):
        identity.change_password(admin, "wrong-current-pw", "a-brand-new-password")
    with pytest.raises(ValidationFailed):
        identity.change_password(admin, ADMIN_PASSWORD, "short")
    before = identity.login("admin", ADMIN_PASSWORD, None).access_token
    identity.change_password(admin, ADMIN_PASSWORD, "a-brand-new-password")
    with pytest.raises(AuthRequired):
        identity.login("admin", ADMIN_PASSWORD, None)
    with pytest.raises(AuthRequired):     # a new password ends the sessions signed in with the old one
        identity.authenticate(before, None)
    after = identity.login("admin", "a-brand-new-password", None).access_token
    assert identity.authenticate(after, None).username == "admin"
    assert [e.outcome for e in events(identity, "auth.password")] == ["ok", "failed"]


def test_token_checks_never_run_argon2(identity: Identity, monkeypatch) -> None:
    admin = admin_of(identity)
    token = identity.issue_token(admin.user_id).access_token
    _, api_token = identity.create_api_token(admin, "bench", None)

    class NoHashing:
        def __getattr__(self, name):
            raise AssertionError(f"a token check touched the password hasher ({name})")

    monkeypatch.setattr(identity, "hasher", NoHashing())
    identity._forget()                 # cold caches first: a miss reads the database, never the hasher
    for _ in range(3):   # cold and warm caches alike
        assert identity.authenticate(token, None).username == "admin"
        assert identity.authenticate(api_token, None).username == "admin"


def test_no_secret_reaches_the_audit_log(identity: Identity) -> None:
    admin = admin_of(identity)
    identity.create_user(admin, "fay", MEMBER_PASSWORD, "member")
    _, secret = identity.create_api_token(admin, "x", None)
    with pytest.raises(AuthRequired):
        identity.login("fay", "fay-wrong-password-1", None)
    with Session(identity._db) as session:
        stored = " ".join(str(e.model_dump()) for e in session.exec(select(AuditEvent)))
        hashes = [u.password_hash for u in session.exec(select(User))]
    for secret_text in (ADMIN_PASSWORD, MEMBER_PASSWORD, "fay-wrong-password-1", secret, *hashes):
        assert secret_text not in stored


def test_auth_off_is_the_local_admin_without_a_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    database = open_database(settings.db_path)
    SQLModel.metadata.create_all(database.engine)
    identity = Identity(database.engine, settings, AuditLog(database))
    principal = identity.authenticate(None, "127.0.0.1")
    assert principal == LOCAL.__class__(**{**LOCAL.__dict__, "client_ip": "127.0.0.1"})
    assert principal.is_admin


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.org", "::"])
def test_a_non_loopback_host_with_auth_off_refuses_to_start(host: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="BQLITE_AUTH"):
        refuse_open_host_without_auth(Settings(data_dir=tmp_path, host=host))
    refuse_open_host_without_auth(Settings(data_dir=tmp_path, host=host, auth="on"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"])
def test_loopback_hosts_start_with_auth_off(host: str, tmp_path: Path) -> None:
    refuse_open_host_without_auth(Settings(data_dir=tmp_path, host=host))


def test_a_short_admin_password_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="BQLITE_ADMIN_PASSWORD"):
        make_identity(tmp_path / "data", admin_password="too-short")


def test_bootstrap_promotes_an_existing_user_named_like_the_admin(identity: Identity) -> None:
    admin = admin_of(identity)
    identity.create_user(admin, "boss", MEMBER_PASSWORD, "admin")
    identity.create_user(admin, "owner", MEMBER_PASSWORD, "member")
    identity.delete_user(admin, "admin")
    with Session(identity._db) as session:  # only a hand edit can leave no admin at all
        boss = session.exec(select(User).where(User.username == "boss")).one()
        session.delete(boss)
        session.commit()
    identity.settings.admin_user = "owner"
    identity.bootstrap()
    assert identity.get_user("owner").role == "admin"
