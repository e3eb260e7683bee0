"""Admins managing users: creating them (`POST /users`), reading, changing and deleting
them by id (`/users/{id}`), with what a change does to their sessions and items."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col

from app.core.errors import ErrorCode
from app.models import AuthSession, Item, Role, User
from tests.helpers import (
    ME,
    NEW_PASSWORD,
    PASSWORD,
    USER_FIELDS,
    USERS,
    Account,
    assert_unauthorized,
    bearer,
    count_rows,
    error_body,
    login,
    login_status,
    refresh_status,
    stored,
    timestamp,
)
from tests.test_items import create_item

# POST /users


def test_create_user_honours_role_and_status(
    client: TestClient, admin: Account, db: Session
) -> None:
    response = client.post(
        USERS,
        json={
            "email": "Created@Example.COM",
            "password": NEW_PASSWORD,
            "name": "Created",
            "role": "ADMIN",
            "isActive": False,
        },
        headers=admin.headers,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["email"] == "created@example.com"
    assert (body["name"], body["role"], body["isActive"]) == ("Created", "ADMIN", False)
    row = stored(db, User, body["id"])
    assert row is not None
    assert (row.email, row.role, row.is_active) == (
        "created@example.com",
        Role.ADMIN,
        False,
    )
    assert row.password_hash != NEW_PASSWORD
    assert login_status(client, "created@example.com", NEW_PASSWORD) == 403


def test_create_user_defaults_and_login(client: TestClient, admin: Account) -> None:
    response = client.post(
        USERS, json={"email": "plain@example.com", "password": NEW_PASSWORD}, headers=admin.headers
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["role"], body["isActive"]) == (None, "USER", True)
    assert login_status(client, "plain@example.com", NEW_PASSWORD) == 200


def test_create_user_accepts_snake_case_body(client: TestClient, admin: Account) -> None:
    response = client.post(
        USERS,
        json={"email": "snake@example.com", "password": NEW_PASSWORD, "is_active": False},
        headers=admin.headers,
    )

    assert response.status_code == 201, response.text
    assert response.json()["isActive"] is False


@pytest.mark.parametrize("email", ["user@example.com", "USER@Example.com"])
def test_create_user_email_taken_is_conflict(
    client: TestClient, admin: Account, user: Account, email: str
) -> None:
    response = client.post(
        USERS, json={"email": email, "password": NEW_PASSWORD}, headers=admin.headers
    )

    assert response.status_code == 409, response.text
    assert response.json() == error_body(ErrorCode.EMAIL_ALREADY_REGISTERED)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "short@example.com", "password": "seven77"},
        {"email": "long@example.com", "password": "é" * 37},  # 74 bytes in UTF-8
        {"email": "nopass@example.com"},
        {"password": NEW_PASSWORD},
        {"email": "bad-role@example.com", "password": NEW_PASSWORD, "role": "ROOT"},
        {"email": "not-an-email", "password": NEW_PASSWORD},
    ],
)
def test_create_user_invalid_body_is_422(
    client: TestClient, admin: Account, db: Session, body: dict[str, Any]
) -> None:
    response = client.post(USERS, json=body, headers=admin.headers)

    assert response.status_code == 422, response.text
    assert count_rows(db, User) == 1


def test_create_user_password_of_72_bytes_is_accepted(client: TestClient, admin: Account) -> None:
    password = "é" * 36  # 72 bytes in UTF-8
    response = client.post(
        USERS, json={"email": "edge@example.com", "password": password}, headers=admin.headers
    )

    assert response.status_code == 201, response.text
    assert login_status(client, "edge@example.com", password) == 200


# GET /users/{id}


def test_read_user(client: TestClient, admin: Account, user: Account) -> None:
    response = client.get(f"{USERS}/{user.id}", headers=admin.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert (body["id"], body["email"], body["name"]) == (str(user.id), user.email, "User")


def test_read_unknown_user_is_404(client: TestClient, admin: Account) -> None:
    response = client.get(f"{USERS}/{uuid.uuid4()}", headers=admin.headers)

    assert response.status_code == 404, response.text
    assert response.json() == error_body(ErrorCode.USER_NOT_FOUND)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "me2"])
def test_user_path_id_must_be_a_uuid(
    client: TestClient, admin: Account, method: str, bad_id: str
) -> None:
    body = {"name": "x"} if method == "PATCH" else None
    response = client.request(method, f"{USERS}/{bad_id}", json=body, headers=admin.headers)

    assert response.status_code == 422, response.text


# PATCH /users/{id}


def test_update_user_every_field(
    client: TestClient, admin: Account, user: Account, db: Session
) -> None:
    before = client.get(f"{USERS}/{user.id}", headers=admin.headers).json()

    response = client.patch(
        f"{USERS}/{user.id}",
        json={
            "email": "Promoted@Example.com",
            "name": "Promoted",
            "role": "ADMIN",
            "isActive": True,
        },
        headers=admin.headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert (body["email"], body["name"], body["role"], body["isActive"]) == (
        "promoted@example.com",
        "Promoted",
        "ADMIN",
        True,
    )
    assert timestamp(body["updatedAt"]) > timestamp(before["updatedAt"])
    row = stored(db, User, user.id)
    assert row is not None
    assert (row.email, row.role) == ("promoted@example.com", Role.ADMIN)
    assert client.get(USERS, headers=user.headers).status_code == 200


def test_update_user_name_null_clears_it(client: TestClient, admin: Account, user: Account) -> None:
    response = client.patch(f"{USERS}/{user.id}", json={"name": None}, headers=admin.headers)

    assert response.status_code == 200, response.text
    assert response.json()["name"] is None
    assert response.json()["email"] == user.email


def test_update_user_password_revokes_sessions_and_allows_login(
    client: TestClient, admin: Account, user: Account, db: Session
) -> None:
    second = login(client, user.email)

    response = client.patch(
        f"{USERS}/{user.id}", json={"password": NEW_PASSWORD}, headers=admin.headers
    )

    assert response.status_code == 200, response.text
    assert "password" not in response.text.lower()
    live = count_rows(
        db,
        AuthSession,
        col(AuthSession.user_id) == user.id,
        col(AuthSession.revoked_at).is_(None),
    )
    assert live == 0
    assert_unauthorized(client.get(ME, headers=user.headers))
    assert_unauthorized(client.get(ME, headers=bearer(second["accessToken"])))
    assert refresh_status(client, user.refresh_token) == 401
    assert refresh_status(client, second["refreshToken"]) == 401
    assert login_status(client, user.email, PASSWORD) == 401
    tokens = login(client, user.email, NEW_PASSWORD)
    assert client.get(ME, headers=bearer(tokens["accessToken"])).status_code == 200


def test_update_user_deactivation_revokes_sessions_at_once(
    client: TestClient, admin: Account, user: Account, db: Session
) -> None:
    untouched = login(client, user.email)  # a session nobody uses while inactive
    assert client.get(ME, headers=user.headers).status_code == 200

    response = client.patch(f"{USERS}/{user.id}", json={"isActive": False}, headers=admin.headers)

    assert response.status_code == 200, response.text
    assert response.json()["isActive"] is False
    live = count_rows(
        db,
        AuthSession,
        col(AuthSession.user_id) == user.id,
        col(AuthSession.revoked_at).is_(None),
    )
    assert live == 0
    assert_unauthorized(client.get(ME, headers=user.headers))
    assert refresh_status(client, user.refresh_token) == 401
    assert login_status(client, user.email) == 403

    reactivated = client.patch(f"{USERS}/{user.id}", json={"isActive": True}, headers=admin.headers)
    assert reactivated.status_code == 200, reactivated.text
    # The sessions ended when the account was deactivated; reactivating revives none.
    assert_unauthorized(client.get(ME, headers=bearer(untouched["accessToken"])))
    assert refresh_status(client, untouched["refreshToken"]) == 401
    tokens = login(client, user.email)
    assert client.get(ME, headers=bearer(tokens["accessToken"])).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"email": None},
        {"role": None},
        {"isActive": None},
        {"password": None},
        {"password": "short"},
        {"password": "é" * 37},
        {"role": "OWNER"},
        {"isActive": "sometimes"},
        {"email": "not-an-email"},
    ],
)
def test_update_user_invalid_body_is_422(
    client: TestClient, admin: Account, user: Account, db: Session, body: dict[str, Any]
) -> None:
    response = client.patch(f"{USERS}/{user.id}", json=body, headers=admin.headers)

    assert response.status_code == 422, response.text
    row = stored(db, User, user.id)
    assert row is not None
    assert (row.email, row.role, row.is_active) == (user.email, Role.USER, True)


@pytest.mark.parametrize("email", ["other@example.com", "Other@EXAMPLE.com"])
def test_update_user_email_taken_is_conflict(
    client: TestClient, admin: Account, user: Account, other_user: Account, email: str
) -> None:
    response = client.patch(f"{USERS}/{user.id}", json={"email": email}, headers=admin.headers)

    assert response.status_code == 409, response.text
    assert response.json() == error_body(ErrorCode.EMAIL_ALREADY_REGISTERED)


def test_update_unknown_user_is_404(client: TestClient, admin: Account) -> None:
    response = client.patch(f"{USERS}/{uuid.uuid4()}", json={"name": "x"}, headers=admin.headers)

    assert response.status_code == 404, response.text


# DELETE /users/{id}


def test_delete_user_cascades_items_and_sessions(
    client: TestClient, admin: Account, user: Account, other_user: Account, db: Session
) -> None:
    create_item(client, user, "first")
    create_item(client, user, "second")
    kept = create_item(client, other_user, "kept")["id"]
    login(client, user.email)

    response = client.delete(f"{USERS}/{user.id}", headers=admin.headers)

    assert response.status_code == 204, response.text
    assert stored(db, User, user.id) is None
    assert count_rows(db, Item, col(Item.owner_id) == user.id) == 0
    assert count_rows(db, AuthSession, col(AuthSession.user_id) == user.id) == 0
    assert count_rows(db, Item, col(Item.id) == uuid.UUID(kept)) == 1
    assert client.get(f"{USERS}/{user.id}", headers=admin.headers).status_code == 404
    assert_unauthorized(client.get(ME, headers=user.headers))
    assert refresh_status(client, user.refresh_token) == 401


def test_delete_unknown_user_is_404(client: TestClient, admin: Account) -> None:
    response = client.delete(f"{USERS}/{uuid.uuid4()}", headers=admin.headers)

    assert response.status_code == 404, response.text
