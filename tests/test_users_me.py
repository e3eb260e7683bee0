"""The caller's own account (`/users/me`): reading it, changing its name and email,
and deleting it with everything it owns."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col

from app.core.errors import ErrorCode
from app.models import AuthSession, Item, Role, User
from tests.helpers import (
    API,
    ME,
    PASSWORD,
    USER_FIELDS,
    Account,
    assert_unauthorized,
    count_rows,
    error_body,
    login,
    login_status,
    refresh_status,
    stored,
    timestamp,
)
from tests.test_items import create_item

# GET /users/me


def test_read_me(client: TestClient, user: Account) -> None:
    response = client.get(ME, headers=user.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["id"] == str(user.id)
    assert body["email"] == "user@example.com"
    assert body["name"] == "User"
    assert body["role"] == "USER"
    assert body["isActive"] is True
    assert timestamp(body["createdAt"]) <= timestamp(body["updatedAt"])


def test_read_me_without_token(client: TestClient) -> None:
    assert_unauthorized(client.get(ME))


# PATCH /users/me


def test_update_me_changes_name_and_lower_cases_email(
    client: TestClient, user: Account, db: Session
) -> None:
    before = client.get(ME, headers=user.headers).json()

    response = client.patch(
        ME,
        json={"name": "Renamed", "email": "New.Address@Example.COM", "currentPassword": PASSWORD},
        headers=user.headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["email"] == "new.address@example.com"
    assert body["name"] == "Renamed"
    assert body["createdAt"] == before["createdAt"]
    assert timestamp(body["updatedAt"]) > timestamp(before["updatedAt"])
    row = stored(db, User, user.id)
    assert row is not None
    assert (row.email, row.name) == ("new.address@example.com", "Renamed")
    assert client.get(ME, headers=user.headers).json() == body
    assert login_status(client, "NEW.address@example.com") == 200


def test_update_me_partial_keeps_other_fields(client: TestClient, user: Account) -> None:
    response = client.patch(ME, json={"name": "Only the name"}, headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "user@example.com"
    assert response.json()["name"] == "Only the name"


@pytest.mark.parametrize("email", ["other@example.com", "OTHER@Example.Com"])
def test_update_me_email_taken_is_conflict(
    client: TestClient, user: Account, other_user: Account, db: Session, email: str
) -> None:
    body = {"email": email, "currentPassword": PASSWORD}
    response = client.patch(ME, json=body, headers=user.headers)

    assert response.status_code == 409, response.text
    assert response.json() == error_body(ErrorCode.EMAIL_ALREADY_REGISTERED)
    row = stored(db, User, user.id)
    assert row is not None
    assert row.email == "user@example.com"


def test_update_me_own_email_in_other_case_is_no_conflict(
    client: TestClient, user: Account
) -> None:
    body = {"email": "USER@example.com", "currentPassword": PASSWORD}
    response = client.patch(ME, json=body, headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "user@example.com"


@pytest.mark.parametrize(
    "body",
    [
        {"email": None, "currentPassword": PASSWORD},
        {"email": "not-an-email", "currentPassword": PASSWORD},
        {"email": "", "currentPassword": PASSWORD},
        {"email": "new@example.com"},  # a new email needs the current password
        {"email": "new@example.com", "currentPassword": None},
    ],
)
def test_update_me_invalid_email_is_422(
    client: TestClient, user: Account, db: Session, body: dict[str, Any]
) -> None:
    response = client.patch(ME, json=body, headers=user.headers)

    assert response.status_code == 422, response.text
    row = stored(db, User, user.id)
    assert row is not None
    assert row.email == "user@example.com"


def test_a_new_email_needs_the_right_current_password(
    client: TestClient, user: Account, db: Session
) -> None:
    body = {"email": "new@example.com", "currentPassword": "not my password"}

    response = client.patch(ME, json=body, headers=user.headers)

    assert response.status_code == 400, response.text
    assert response.json() == error_body(ErrorCode.CURRENT_PASSWORD_WRONG)
    row = stored(db, User, user.id)
    assert row is not None
    assert row.email == "user@example.com"


def test_wrong_current_passwords_on_email_change_count_as_failed_sign_ins(
    client: TestClient, user: Account
) -> None:
    wrong = {"email": "new@example.com", "currentPassword": "not my password"}
    for _ in range(5):
        assert client.patch(ME, json=wrong, headers=user.headers).status_code == 400
    right = {"email": "new@example.com", "currentPassword": PASSWORD}
    throttled = client.patch(ME, json=right, headers=user.headers)
    assert throttled.status_code == 429, throttled.text
    assert int(throttled.headers["retry-after"]) > 0
    login = client.post(f"{API}/auth/login", json={"email": user.email, "password": PASSWORD})
    assert login.status_code == 429  # the same budget as sign-ins to the account


def test_update_me_null_name_clears_it(client: TestClient, user: Account, db: Session) -> None:
    response = client.patch(ME, json={"name": None}, headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.json()["name"] is None
    row = stored(db, User, user.id)
    assert row is not None
    assert row.name is None


def test_update_me_cannot_change_role_or_status(
    client: TestClient, user: Account, db: Session
) -> None:
    response = client.patch(
        ME, json={"role": "ADMIN", "isActive": False, "is_active": False}, headers=user.headers
    )

    assert response.status_code in (200, 422), response.text
    row = stored(db, User, user.id)
    assert row is not None
    assert (row.role, row.is_active) == (Role.USER, True)
    assert client.get(ME, headers=user.headers).status_code == 200


# DELETE /users/me


def test_delete_me_removes_account_items_and_sessions(
    client: TestClient, user: Account, other_user: Account, db: Session
) -> None:
    create_item(client, user, "mine 1")
    create_item(client, user, "mine 2")
    kept_item = create_item(client, other_user, "theirs")["id"]
    login(client, user.email)  # a second session
    assert count_rows(db, AuthSession, col(AuthSession.user_id) == user.id) == 2

    response = client.delete(ME, headers=user.headers)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert stored(db, User, user.id) is None
    assert count_rows(db, Item, col(Item.owner_id) == user.id) == 0
    assert count_rows(db, AuthSession, col(AuthSession.user_id) == user.id) == 0
    assert count_rows(db, Item, col(Item.id) == uuid.UUID(kept_item)) == 1
    assert count_rows(db, User, col(User.id) == other_user.id) == 1
    assert_unauthorized(client.get(ME, headers=user.headers))
    assert refresh_status(client, user.refresh_token) == 401
    assert login_status(client, user.email) == 401
