"""The last-admin guard: an active admin always remains, whether admins are demoted,
deactivated or deleted, by themselves or by another admin, one at a time or at once."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, update

from app.models import Role, User
from app.services import accounts
from tests.helpers import ME, USERS, Account, count_rows, fresh, race, stored


def active_admins(db: Session) -> int:
    """How many active admins there are."""
    return count_rows(db, User, col(User.role) == Role.ADMIN, col(User.is_active).is_(True))


# Demoting or deactivating


@pytest.mark.parametrize("change", [{"role": "USER"}, {"isActive": False}])
def test_last_active_admin_cannot_be_demoted_or_deactivated(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    db: Session,
    change: dict[str, Any],
) -> None:
    make_account("sleeping-admin@example.com", role=Role.ADMIN, is_active=False)

    response = client.patch(f"{USERS}/{admin.id}", json=change, headers=admin.headers)

    assert response.status_code == 409, response.text
    assert response.json()["detail"]
    row = stored(db, User, admin.id)
    assert row is not None
    assert (row.role, row.is_active) == (Role.ADMIN, True)
    assert active_admins(db) == 1
    assert client.get(USERS, headers=admin.headers).status_code == 200


@pytest.mark.parametrize(
    "change",
    [{"name": "Still the admin"}, {"role": "ADMIN", "isActive": True}, {"email": "boss@x.io"}],
)
def test_last_active_admin_may_change_other_fields(
    client: TestClient, admin: Account, db: Session, change: dict[str, Any]
) -> None:
    response = client.patch(f"{USERS}/{admin.id}", json=change, headers=admin.headers)

    assert response.status_code == 200, response.text
    assert (response.json()["role"], response.json()["isActive"]) == ("ADMIN", True)
    assert active_admins(db) == 1


@pytest.mark.parametrize("change", [{"role": "USER"}, {"isActive": False}])
@pytest.mark.parametrize("target", ["self", "peer"])
def test_admin_may_be_demoted_or_deactivated_when_another_remains(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    db: Session,
    change: dict[str, Any],
    target: str,
) -> None:
    peer = make_account("peer-admin@example.com", role=Role.ADMIN)
    victim = admin if target == "self" else peer

    response = client.patch(f"{USERS}/{victim.id}", json=change, headers=admin.headers)

    assert response.status_code == 200, response.text
    assert active_admins(db) == 1
    survivor = peer if target == "self" else admin
    assert client.get(USERS, headers=survivor.headers).status_code == 200
    assert client.get(USERS, headers=victim.headers).status_code == 401  # signed out


# Deleting


@pytest.mark.parametrize("by", ["me", "id"])
def test_delete_last_active_admin_is_conflict(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    db: Session,
    by: str,
) -> None:
    make_account("sleeping-admin@example.com", role=Role.ADMIN, is_active=False)

    response = client.delete(ME if by == "me" else f"{USERS}/{admin.id}", headers=admin.headers)

    assert response.status_code == 409, response.text
    assert stored(db, User, admin.id) is not None
    assert client.get(ME, headers=admin.headers).status_code == 200


@pytest.mark.parametrize("target", ["self", "peer"])
def test_delete_admin_when_another_active_admin_exists(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    db: Session,
    target: str,
) -> None:
    peer = make_account("peer-admin@example.com", role=Role.ADMIN)
    # An admin deletes their own account through /users/me, or a peer's by id.
    victim, url = (admin, ME) if target == "self" else (peer, f"{USERS}/{peer.id}")

    response = client.delete(url, headers=admin.headers)

    assert response.status_code == 204, response.text
    assert stored(db, User, victim.id) is None
    assert active_admins(db) == 1


def test_delete_inactive_admin_beside_the_last_active_one(
    client: TestClient, admin: Account, make_account: Callable[..., Account], db: Session
) -> None:
    sleeping = make_account("sleeping-admin@example.com", role=Role.ADMIN, is_active=False)

    response = client.delete(f"{USERS}/{sleeping.id}", headers=admin.headers)

    assert response.status_code == 204, response.text
    assert stored(db, User, sleeping.id) is None


# Concurrency: two admins changing each other at once must leave an active admin.

ATTEMPTS = 5


@pytest.fixture
def fresh_admin_pair(
    db: Session, make_account: Callable[..., Account]
) -> Callable[[], tuple[Account, Account]]:
    """Make exactly two active admins (every earlier admin is demoted first)."""

    def make() -> tuple[Account, Account]:
        fresh(db).exec(update(User).values(role=Role.USER))
        db.commit()
        pair = make_account(role=Role.ADMIN), make_account(role=Role.ADMIN)
        assert active_admins(db) == 2
        return pair

    return make


@pytest.mark.parametrize(
    ("method", "change"),
    [("PATCH", {"role": "USER"}), ("PATCH", {"isActive": False}), ("DELETE", None)],
)
@pytest.mark.slow
def test_admins_changing_each_other_concurrently_keep_an_active_admin(
    make_client: Callable[..., TestClient],
    db: Session,
    fresh_admin_pair: Callable[[], tuple[Account, Account]],
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    change: dict[str, Any] | None,
) -> None:
    # Both requests are authorized before either takes the admins' lock: each demotes,
    # deactivates or deletes the other, and only one of them may win. (PATCH takes the
    # password hasher, so it runs on a hashing thread: two of them, as in two workers.)
    client = make_client(password_hash_concurrency=2)
    both_authorized = threading.Barrier(2, timeout=30)
    lock_active_admins = accounts._lock_active_admins

    def wait_then_lock(db: Session) -> None:
        both_authorized.wait()
        lock_active_admins(db)

    monkeypatch.setattr(accounts, "_lock_active_admins", wait_then_lock)
    success = 204 if method == "DELETE" else 200
    for _ in range(ATTEMPTS):
        both_authorized.reset()
        first, second = fresh_admin_pair()
        statuses = race(
            client,
            [
                (method, f"{USERS}/{second.id}", first, change),
                (method, f"{USERS}/{first.id}", second, change),
            ],
        )
        assert sorted(statuses) == [success, 409]
        assert active_admins(db) == 1
