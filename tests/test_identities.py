"""Linked sign-in providers: listing and unlinking one's own (never the last way to
sign in, even with two unlinks at once), an admin's view of anyone's, and accounts
made by a provider, which have no password until a reset sets one."""

import functools
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select, update

from app.core.errors import ErrorCode
from app.core.passwords import no_password
from app.models import AuditEvent, User, UserIdentity
from tests.helpers import (
    API,
    ME,
    PASSWORD,
    USERS,
    Account,
    at_once,
    bearer,
    count_rows,
    error_body,
    fresh,
    login_status,
)

MINE = f"{ME}/identities"


def link(db: Session, account: Account, provider: str = "oidc") -> uuid.UUID:
    """Link a provider's person to `account` (as a first sign-in would)."""
    row = UserIdentity(
        user_id=account.id, provider=provider, subject=uuid.uuid4().hex, email=account.email
    )
    db.add(row)
    db.commit()
    return row.id


def drop_password(db: Session, account: Account) -> None:
    """Make `account` one without a password, as a provider makes them."""
    fresh(db).exec(
        update(User).where(col(User.id) == account.id).values(password_hash=no_password())
    )
    db.commit()


def test_the_caller_lists_their_providers(client: TestClient, user: Account, db: Session) -> None:
    identity_id = link(db, user)
    response = client.get(MINE, headers=user.headers)
    assert response.status_code == 200
    [entry] = response.json()
    assert entry["id"] == str(identity_id)
    assert (entry["provider"], entry["email"], entry["lastUsedAt"]) == ("oidc", user.email, None)
    assert set(entry) == {"id", "provider", "email", "createdAt", "lastUsedAt"}


def test_unlinking_with_a_password_left(client: TestClient, user: Account, db: Session) -> None:
    identity_id = link(db, user)
    response = client.delete(f"{MINE}/{identity_id}", headers=user.headers)
    assert response.status_code == 204
    assert count_rows(db, UserIdentity) == 0
    events = fresh(db).exec(select(AuditEvent).where(AuditEvent.action == "identity.unlinked"))
    [event] = events.all()
    assert (event.target_id, event.reason) == (str(user.id), "oidc")


def test_another_users_link_is_not_found(
    client: TestClient, user: Account, other_user: Account, db: Session
) -> None:
    theirs = link(db, other_user)
    for identity_id in (theirs, uuid.uuid4()):
        response = client.delete(f"{MINE}/{identity_id}", headers=user.headers)
        assert response.status_code == 404
        assert response.json() == error_body(ErrorCode.IDENTITY_NOT_FOUND)
    assert count_rows(db, UserIdentity) == 1


def test_the_last_way_to_sign_in_stays(client: TestClient, user: Account, db: Session) -> None:
    first, second = link(db, user), link(db, user, "github")
    drop_password(db, user)
    assert client.delete(f"{MINE}/{first}", headers=user.headers).status_code == 204
    response = client.delete(f"{MINE}/{second}", headers=user.headers)
    assert response.status_code == 409
    assert response.json() == error_body(ErrorCode.LAST_SIGN_IN_METHOD)
    assert count_rows(db, UserIdentity) == 1


def test_two_unlinks_at_once_leave_one_way_to_sign_in(
    client: TestClient, user: Account, db: Session
) -> None:
    links = [link(db, user), link(db, user, "github")]
    drop_password(db, user)

    def unlink(identity_id: uuid.UUID) -> int:
        status: int = client.delete(f"{MINE}/{identity_id}", headers=user.headers).status_code
        return status

    statuses = at_once([functools.partial(unlink, identity_id) for identity_id in links])
    assert sorted(statuses) == [204, 409]
    assert count_rows(db, UserIdentity) == 1


def test_an_account_without_a_password_signs_in_with_none(
    client: TestClient, user: Account, db: Session
) -> None:
    drop_password(db, user)
    assert login_status(client, user.email, PASSWORD) == 401
    response = client.patch(
        f"{ME}/password",
        json={"currentPassword": PASSWORD, "newPassword": "a new password 1"},
        headers=user.headers,
    )
    assert response.json() == error_body(ErrorCode.CURRENT_PASSWORD_WRONG)


def test_api_tokens_cannot_see_or_unlink(client: TestClient, user: Account, db: Session) -> None:
    identity_id = link(db, user)
    created = client.post(
        f"{ME}/tokens", json={"name": "script", "scopes": ["write"]}, headers=user.headers
    )
    token = bearer(created.json()["token"])
    for response in (
        client.get(MINE, headers=token),
        client.delete(f"{MINE}/{identity_id}", headers=token),
    ):
        assert response.json() == error_body(ErrorCode.API_TOKEN_NOT_ALLOWED)


@pytest.mark.parametrize("who", ["admin", "user"])
def test_admins_see_anyones_providers(
    client: TestClient,
    make_account: Callable[..., Account],
    admin: Account,
    user: Account,
    db: Session,
    who: str,
) -> None:
    link(db, user, "github")
    caller = admin if who == "admin" else make_account()
    response = client.get(f"{USERS}/{user.id}/identities", headers=caller.headers)
    if who == "user":
        assert response.json() == error_body(ErrorCode.ADMIN_REQUIRED)
        return
    assert [entry["provider"] for entry in response.json()] == ["github"]
    unknown = client.get(f"{USERS}/{uuid.uuid4()}/identities", headers=admin.headers)
    assert unknown.json() == error_body(ErrorCode.USER_NOT_FOUND)


def test_links_go_with_their_account(client: TestClient, user: Account, db: Session) -> None:
    link(db, user)
    assert client.delete(ME, headers=user.headers).status_code == 204
    assert count_rows(db, UserIdentity) == 0
    assert client.get(f"{API}/auth/providers").json() == []
