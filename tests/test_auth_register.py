"""Signing up (`POST /auth/register`): the public user it returns, what it refuses,
and one email registered twice at once."""

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import bcrypt
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, col, select

from app.core.errors import ErrorCode
from app.models import User
from app.services import accounts
from tests.helpers import (
    API,
    EURO,
    USER_FIELDS,
    Account,
    count_rows,
    error_body,
    login,
    me,
    timestamp,
)


def register(client: TestClient, body: dict[str, Any]) -> Response:
    return client.post(f"{API}/auth/register", json=body)


def test_register_returns_the_public_user(client: TestClient, db: Session) -> None:
    response = register(
        client, {"email": "new@example.com", "password": "long enough", "name": "New"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert uuid.UUID(body["id"])
    assert body["email"] == "new@example.com"
    assert body["name"] == "New"
    assert body["role"] == "USER"
    assert body["isActive"] is True
    assert timestamp(body["createdAt"]) <= timestamp(body["updatedAt"]) + timedelta(seconds=1)
    for secret in ("password", "passwordHash", "password_hash", "hashedPassword"):
        assert secret not in body
    assert "long enough" not in response.text
    stored = db.exec(select(User).where(User.email == "new@example.com")).one()
    assert str(stored.id) == body["id"]
    assert stored.password_hash != "long enough"
    assert bcrypt.checkpw(b"long enough", stored.password_hash.encode())


def test_register_name_is_optional(client: TestClient) -> None:
    response = register(client, {"email": "nameless@example.com", "password": "long enough"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] is None


def test_register_ignores_role_and_active_fields(client: TestClient) -> None:
    response = register(
        client,
        {
            "email": "sneaky@example.com",
            "password": "long enough",
            "role": "ADMIN",
            "isActive": False,
            "is_active": False,
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "USER"
    assert response.json()["isActive"] is True
    login(client, "sneaky@example.com", "long enough")


def test_register_stores_the_email_lower_cased(client: TestClient, db: Session) -> None:
    response = register(client, {"email": "Mixed.Case@Example.COM", "password": "long enough"})
    assert response.status_code == 201, response.text
    assert response.json()["email"] == "mixed.case@example.com"
    emails = db.exec(select(User.email)).all()
    assert emails == ["mixed.case@example.com"]
    tokens = login(client, "MIXED.case@example.com", "long enough")
    assert me(client, tokens["accessToken"]).json()["email"] == "mixed.case@example.com"


@pytest.mark.parametrize("email", ["user@example.com", "USER@Example.com"])
def test_register_refuses_a_taken_email(client: TestClient, user: Account, email: str) -> None:
    response = register(client, {"email": email, "password": "another password"})
    assert response.status_code == 400
    assert response.json() == error_body(ErrorCode.EMAIL_ALREADY_REGISTERED)
    login(client, user.email)  # the original account is untouched


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("\uff55nicorn@example.com", "compatibility"),  # fullwidth u
        ("\u0443nicorn@example.com", "mix"),  # Cyrillic u
        ("unicorn@\u0435xample.com", "mix"),  # Cyrillic e in the domain
        ("u\u0307nicorn@example.com", "combining"),  # u + combining dot above
        ("uni\u0307corn@example.com", "combining"),  # i + dot: looks like i
        ("\ufb01le@example.com", "compatibility"),  # the fi ligature
    ],
)
def test_look_alike_addresses_are_refused(
    client: TestClient, db: Session, email: str, reason: str
) -> None:
    first = register(client, {"email": "unicorn@example.com", "password": "long enough"})
    assert first.status_code == 201
    response = register(client, {"email": email, "password": "long enough"})
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"][0]["msg"]
    assert db.exec(select(User.email)).all() == ["unicorn@example.com"]


@pytest.mark.parametrize(
    "email",
    [
        "jos\u00e9@example.com",
        "jose\u0301@example.com",  # composed first: josé
        "m\u00fcller@stra\u00dfe.de",
        "\u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",
        "\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a",
        "tanaka\u592a\u90ce@example.jp",
    ],
)
def test_international_addresses_are_welcome(client: TestClient, email: str) -> None:
    response = register(client, {"email": email, "password": "long enough"})
    assert response.status_code == 201, response.text
    login(client, email, "long enough")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "password": "seven77"},
        {"email": "a@example.com", "password": EURO * 7},  # 7 chars, 21 bytes
        {"email": "a@example.com", "password": ""},
        {"email": "a@example.com", "password": EURO * 24 + "a"},  # 73 bytes
        {"email": "a@example.com", "password": "\u00e9\u20ac" * 25},  # 125 bytes, 50 chars
        {"email": "a@example.com", "password": "x" * 73},
        {"email": "a@example.com"},
        {"password": "long enough"},
        {"email": "not-an-email", "password": "long enough"},
        {"email": "a@example.com", "password": "long\x00enough"},
        {"email": "a@example.com", "password": None},
    ],
    ids=[
        "7-chars",
        "7-multibyte-chars",
        "empty",
        "73-bytes-multibyte",
        "125-bytes-multibyte",
        "73-bytes-ascii",
        "no-password",
        "no-email",
        "bad-email",
        "nul",
        "null-password",
    ],
)
def test_register_refuses_invalid_input(
    client: TestClient, db: Session, body: dict[str, Any]
) -> None:
    response = register(client, body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert count_rows(db, User) == 0


@pytest.mark.parametrize(
    "password",
    ["8 chars!", EURO * 8, "x" * 72, EURO * 24, "\u00e9\u20ac" * 14 + "ab"],
    ids=["8-chars", "8-multibyte-chars", "72-bytes-ascii", "72-bytes-euro", "72-bytes-mixed"],
)
def test_register_accepts_passwords_at_the_limits(client: TestClient, password: str) -> None:
    assert len(password) == 8 or len(password.encode()) == 72
    response = register(client, {"email": "edge@example.com", "password": password})
    assert response.status_code == 201, response.text
    login(client, "edge@example.com", password)
    if len(password.encode()) == 72:
        # every byte counts: no silent truncation at 72 bytes
        wrong = client.post(
            f"{API}/auth/login",
            json={"email": "edge@example.com", "password": password[:-1] + "?"},
        )
        assert wrong.status_code == 401


def test_register_disabled_is_forbidden_but_admins_still_create_users(
    make_client: Callable[..., TestClient], admin: Account, db: Session
) -> None:
    closed = make_client(allow_registration=False)
    response = register(closed, {"email": "new@example.com", "password": "long enough"})
    assert response.status_code == 403
    assert isinstance(response.json()["detail"], str)
    assert db.exec(select(User).where(User.email == "new@example.com")).first() is None

    created = closed.post(
        f"{API}/users",
        json={"email": "new@example.com", "password": "long enough"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "new@example.com"
    login(closed, "new@example.com", "long enough")


def race_registrations(client: TestClient, db: Session, rounds: int) -> None:
    """Register one email from two threads at once, `rounds` times: one 201, one 400."""

    def attempt(email: str) -> Any:
        return register(client, {"email": email, "password": "long enough"})

    with ThreadPoolExecutor(max_workers=2) as pool:
        for round_ in range(rounds):
            emails = [f"race{round_}@example.com", f"Race{round_}@Example.com"]
            responses = list(pool.map(attempt, emails))
            statuses = sorted(response.status_code for response in responses)
            assert statuses == [201, 400], [r.text for r in responses]
            loser = next(r for r in responses if r.status_code == 400)
            assert loser.json() == error_body(ErrorCode.EMAIL_ALREADY_REGISTERED)
    assert count_rows(db, User, col(User.email).startswith("race")) == rounds


@pytest.mark.slow
def test_concurrent_registrations_of_one_email(client: TestClient, db: Session) -> None:
    race_registrations(client, db, rounds=4)


@pytest.mark.slow
def test_concurrent_registrations_both_past_the_email_check(
    make_client: Callable[..., TestClient], db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hold each request after its "is the email free?" look-up until the other one
    # has looked too: both see a free email and race to insert it. Sign-ups run at
    # once on two hashing threads, as they would in two workers.
    client = make_client(password_hash_concurrency=2)
    both_looked = threading.Barrier(2, timeout=10)
    find_by_email = accounts.find_by_email

    def lookup_then_wait(db: Session, email: str) -> User | None:
        found = find_by_email(db, email)
        both_looked.wait()
        return found

    monkeypatch.setattr(accounts, "find_by_email", lookup_then_wait)
    race_registrations(client, db, rounds=2)


def test_registration_race_lost_at_the_unique_constraint_is_400(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Skip the pre-check so the second insert hits the database's unique constraint,
    # as the slower of two concurrent requests does.
    monkeypatch.setattr(accounts, "find_by_email", lambda _db, _email: None)
    first = register(client, {"email": "dup@example.com", "password": "long enough"})
    assert first.status_code == 201, first.text
    second = register(client, {"email": "DUP@example.com", "password": "long enough"})
    assert second.status_code == 400, second.text
    assert second.json() == error_body(ErrorCode.EMAIL_ALREADY_REGISTERED)
    # the app is still healthy afterwards (the failed transaction was rolled back)
    third = register(client, {"email": "other@example.com", "password": "long enough"})
    assert third.status_code == 201, third.text
