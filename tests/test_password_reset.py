"""Resetting a forgotten password: the request (`POST /auth/password-reset`) and the
confirmation with a reset token (`POST /auth/password-reset/confirm`): which tokens
work, only once, and which sessions a reset ends."""

import uuid
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.tokens import create_reset_token, create_token, reset_fingerprint
from app.models import User
from app.models.fields import utcnow
from tests.helpers import (
    API,
    NEW_PASSWORD,
    PASSWORD,
    Account,
    change_password,
    confirm_reset,
    login,
    login_status,
    me_status,
    refresh_status,
    request_reset,
    settings_of,
    unverified_claims,
)


def reset_token_for(client: TestClient, db: Session, account: Account) -> str:
    db.commit()
    stored = db.get(User, account.id, populate_existing=True)
    assert stored is not None
    db.commit()
    return create_reset_token(
        settings_of(client),
        user_id=account.id,
        email=stored.email,
        email_changes=stored.email_changes,
        password_hash=stored.password_hash,
    )


# The request


def test_reset_request_answers_the_same_for_any_email(
    client: TestClient, user: Account, inactive_user: Account
) -> None:
    known = request_reset(client, user.email)
    unknown = request_reset(client, "nobody@example.com")
    inactive = request_reset(client, inactive_user.email)
    for response in (known, unknown, inactive):
        assert response.status_code == 202, response.text
        assert set(response.json()) == {"detail"}
        assert isinstance(response.json()["detail"], str)
    assert known.json() == unknown.json() == inactive.json()
    assert known.content == unknown.content


@pytest.mark.parametrize("body", [{}, {"email": "not-an-email"}, {"email": None}])
def test_reset_request_refuses_invalid_input(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post(f"{API}/auth/password-reset", json=body).status_code == 422


# The confirmation


def test_reset_confirm_accepts_snake_case(client: TestClient, user: Account, db: Session) -> None:
    token = reset_token_for(client, db, user)
    response = client.post(
        f"{API}/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204, response.text
    assert login_status(client, user.email, NEW_PASSWORD) == 200


def test_reset_confirm_revokes_every_session(
    client: TestClient, user: Account, db: Session
) -> None:
    second = login(client, user.email)
    assert confirm_reset(client, reset_token_for(client, db, user)).status_code == 204
    for access in (user.access_token, second["accessToken"]):
        assert me_status(client, access) == 401
    for refresh in (user.refresh_token, second["refreshToken"]):
        assert refresh_status(client, refresh) == 401
    fresh = login(client, user.email, NEW_PASSWORD)
    assert me_status(client, fresh["accessToken"]) == 200


@pytest.mark.parametrize(
    "token", ["garbage", "", "a.b.c", "x" * 4096], ids=["word", "empty", "dots", "4096"]
)
def test_reset_confirm_refuses_a_garbage_token(
    client: TestClient, user: Account, token: str
) -> None:
    response = confirm_reset(client, token)
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["detail"], str)
    assert login_status(client, user.email, PASSWORD) == 200


def test_reset_confirm_refuses_an_oversized_token(client: TestClient) -> None:
    response = confirm_reset(client, "x" * 5000)
    assert response.status_code in (400, 422)


def test_reset_confirm_refuses_an_expired_token(
    client: TestClient, user: Account, db: Session
) -> None:
    settings = settings_of(client)
    stored = db.get(User, user.id)
    assert stored is not None
    fingerprint = reset_fingerprint(
        settings.secret_key,
        email=stored.email,
        email_changes=stored.email_changes,
        password_hash=stored.password_hash,
    )

    def reset_token(minutes: int) -> str:
        now = utcnow()
        return create_token(
            settings,
            token_type="reset",
            subject=user.id,
            issued_at=now,
            expires_at=now + timedelta(minutes=minutes),
            claims={"acct": fingerprint},
        )

    expired = confirm_reset(client, reset_token(-1))
    assert expired.status_code == 400, expired.text
    assert login_status(client, user.email, PASSWORD) == 200
    # control: the same token, still valid, is accepted
    assert confirm_reset(client, reset_token(5)).status_code == 204


def test_reset_confirm_refuses_session_tokens(client: TestClient, user: Account) -> None:
    for token in (user.access_token, user.refresh_token):
        response = confirm_reset(client, token)
        assert response.status_code == 400, response.text
    assert login_status(client, user.email, PASSWORD) == 200
    assert me_status(client, user.access_token) == 200


def test_reset_confirm_refuses_a_token_signed_with_another_key(
    client: TestClient, user: Account, db: Session
) -> None:
    token = reset_token_for(client, db, user)
    claims = unverified_claims(token)
    forged = jwt.encode(claims, "another-secret-key-" + "k" * 45, algorithm="HS256")
    assert confirm_reset(client, forged).status_code == 400
    assert confirm_reset(client, token).status_code == 204  # control


def test_reset_confirm_refuses_a_token_of_an_unknown_user(
    client: TestClient, user: Account, db: Session
) -> None:
    stored = db.get(User, user.id)
    assert stored is not None
    token = create_reset_token(
        settings_of(client),
        user_id=uuid.uuid4(),
        email=stored.email,
        email_changes=stored.email_changes,
        password_hash=stored.password_hash,
    )
    assert confirm_reset(client, token).status_code == 400


@pytest.mark.parametrize(
    "new_password",
    ["short", "seven77", "\u20ac" * 24 + "a", "x" * 73],
    ids=["5-chars", "7-chars", "73-bytes-euro", "73-bytes"],
)
def test_reset_confirm_refuses_an_invalid_new_password(
    client: TestClient, user: Account, db: Session, new_password: str
) -> None:
    token = reset_token_for(client, db, user)
    response = confirm_reset(client, token, new_password)
    assert response.status_code == 422, response.text
    assert login_status(client, user.email, PASSWORD) == 200
    assert me_status(client, user.access_token) == 200
    # the refused attempt did not spend the token
    assert confirm_reset(client, token).status_code == 204


def test_reset_token_dies_when_the_password_changes(
    client: TestClient, user: Account, db: Session
) -> None:
    first = reset_token_for(client, db, user)
    second = reset_token_for(client, db, user)
    assert confirm_reset(client, first).status_code == 204
    # a second token issued for the old password is spent too
    assert confirm_reset(client, second, "yet another password").status_code == 400
    assert login_status(client, user.email, NEW_PASSWORD) == 200


def test_reset_token_dies_when_the_email_changes(
    client: TestClient, user: Account, db: Session
) -> None:
    token = reset_token_for(client, db, user)
    change = {"email": "moved@example.com", "currentPassword": PASSWORD}
    moved = client.patch(f"{API}/users/me", json=change, headers=user.headers)
    assert moved.status_code == 200, moved.text
    assert confirm_reset(client, token).status_code == 400
    assert login_status(client, "moved@example.com", PASSWORD) == 200


def test_reset_token_stays_dead_when_the_email_comes_back(
    client: TestClient, user: Account, db: Session
) -> None:
    token = reset_token_for(client, db, user)
    for email in ("moved@example.com", user.email):  # A -> B -> A
        change = {"email": email, "currentPassword": PASSWORD}
        moved = client.patch(f"{API}/users/me", json=change, headers=user.headers)
        assert moved.status_code == 200, moved.text
    assert confirm_reset(client, token).status_code == 400
    assert login_status(client, user.email, PASSWORD) == 200
    assert confirm_reset(client, reset_token_for(client, db, user)).status_code == 204


def test_reset_token_dies_after_a_password_change_while_signed_in(
    client: TestClient, user: Account, db: Session
) -> None:
    token = reset_token_for(client, db, user)
    changed = change_password(
        client, user.access_token, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert changed.status_code == 204
    assert confirm_reset(client, token, "yet another password").status_code == 400
    assert login_status(client, user.email, NEW_PASSWORD) == 200


def test_reset_token_of_a_deactivated_user_is_refused(
    client: TestClient, user: Account, admin: Account, db: Session
) -> None:
    token = reset_token_for(client, db, user)
    deactivated = client.patch(
        f"{API}/users/{user.id}", json={"isActive": False}, headers=admin.headers
    )
    assert deactivated.status_code == 200, deactivated.text
    assert confirm_reset(client, token).status_code == 400
