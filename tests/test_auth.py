"""Sign-up, sign-in (`/auth/login`, `/auth/token`) and what the bearer check refuses."""

import base64
import json
import threading
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import bcrypt
import jwt
import pytest
from fastapi.testclient import TestClient
from jwt.warnings import InsecureKeyLengthWarning
from sqlmodel import Session, col, select

from app import accounts
from app.errors import ErrorCode
from app.models import User
from app.tokens import create_reset_token
from tests.helpers import (
    API,
    ME,
    PASSWORD,
    USER_FIELDS,
    Account,
    assert_unauthorized,
    bearer,
    count_rows,
    error_body,
    login,
    refresh,
    session_id,
    session_token,
    settings_of,
    timestamp,
    unverified_claims,
)

EURO = "\u20ac"  # three bytes in UTF-8


def register(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post(f"{API}/auth/register", json=body)


def token_form(client: TestClient, data: dict[str, str]) -> Any:
    return client.post(f"{API}/auth/token", data=data)


def me(client: TestClient, token: str) -> Any:
    return client.get(ME, headers=bearer(token))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Registration


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


def test_concurrent_registrations_of_one_email(client: TestClient, db: Session) -> None:
    race_registrations(client, db, rounds=4)


def test_concurrent_registrations_both_past_the_email_check(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hold each request after its "is the email free?" look-up until the other one
    # has looked too: both see a free email and race to insert it.
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


# Login


def test_login_returns_a_token_pair(client: TestClient, user: Account) -> None:
    response = client.post(
        f"{API}/auth/login", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
    assert body["tokenType"] == "bearer"
    assert body["expiresIn"] == 1800
    assert body["accessToken"] != body["refreshToken"]
    assert me(client, body["accessToken"]).json()["id"] == str(user.id)
    claims = unverified_claims(body["accessToken"])
    assert claims["exp"] - claims["iat"] == 1800


def test_login_with_a_wrong_password_or_unknown_email_look_the_same(
    client: TestClient, user: Account
) -> None:
    wrong = client.post(f"{API}/auth/login", json={"email": user.email, "password": "wrong pw!"})
    unknown = client.post(
        f"{API}/auth/login", json={"email": "nobody@example.com", "password": "wrong pw!"}
    )
    for response in (wrong, unknown):
        assert_unauthorized(response)
        assert response.json() == error_body(ErrorCode.LOGIN_BAD_CREDENTIALS)
    assert wrong.status_code == unknown.status_code
    assert wrong.json() == unknown.json()
    assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")


def test_login_is_case_insensitive_on_email(client: TestClient, user: Account) -> None:
    tokens = login(client, "User@EXAMPLE.com")
    assert me(client, tokens["accessToken"]).json()["id"] == str(user.id)


def test_login_of_an_inactive_user_is_forbidden(client: TestClient, inactive_user: Account) -> None:
    response = client.post(
        f"{API}/auth/login",
        json={"email": inactive_user.email, "password": inactive_user.password},
    )
    assert response.status_code == 403
    assert isinstance(response.json()["detail"], str)
    assert "accessToken" not in response.text
    wrong = client.post(
        f"{API}/auth/login", json={"email": inactive_user.email, "password": "wrong pw!"}
    )
    assert wrong.status_code == 401  # no hint that the account exists without the password


ODD_PASSWORDS = {
    "73-bytes": "x" * 73,
    "72-euro-plus-one": EURO * 24 + "a",
    "1000-chars": "p" * 1000,
    "1024-chars": "p" * 1024,
    "1025-chars": "p" * 1025,
    "100k-chars": "p" * 100_000,
    "emoji": "\U0001f600" * 30,
    "nul": "correct\x00horse",
    "empty": "",
    "short": "a",
}


@pytest.mark.parametrize("path", ["login", "token"])
@pytest.mark.parametrize("password", list(ODD_PASSWORDS.values()), ids=list(ODD_PASSWORDS))
def test_odd_passwords_never_cause_a_500(
    client: TestClient, user: Account, path: str, password: str
) -> None:
    for email in (user.email, "nobody@example.com"):
        if path == "login":
            response = client.post(f"{API}/auth/login", json={"email": email, "password": password})
        else:
            response = token_form(client, {"username": email, "password": password})
        assert response.status_code in (401, 422), response.text
        if response.status_code == 401:
            assert response.headers.get("www-authenticate") == "Bearer"


@pytest.mark.parametrize("path", ["login", "token"])
def test_lone_surrogate_password_is_not_a_500(client: TestClient, user: Account, path: str) -> None:
    if path == "login":
        raw = b'{"email": "user@example.com", "password": "abc\\ud800defgh"}'
        response = client.post(
            f"{API}/auth/login", content=raw, headers={"Content-Type": "application/json"}
        )
    else:
        response = client.post(
            f"{API}/auth/token",
            content=b"username=user%40example.com&password=abc%ED%A0%80defgh",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code in (400, 401, 422), response.text


@pytest.fixture
def checkpw_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed_password: bytes) -> bool:
        calls.append(hashed_password)
        return real(password, hashed_password)

    monkeypatch.setattr("app.passwords.bcrypt.checkpw", counting)
    return calls


def test_unknown_email_costs_the_same_password_check(
    client: TestClient, user: Account, checkpw_calls: list[bytes]
) -> None:
    unknown = client.post(
        f"{API}/auth/login", json={"email": "nobody@example.com", "password": "wrong pw!"}
    )
    assert unknown.status_code == 401
    unknown_calls = len(checkpw_calls)
    checkpw_calls.clear()
    known = client.post(f"{API}/auth/login", json={"email": user.email, "password": "wrong pw!"})
    assert known.status_code == 401
    known_calls = len(checkpw_calls)
    assert unknown_calls == known_calls == 1
    checkpw_calls.clear()

    # an over-long password is checked too (against a dummy hash), never skipped
    for email in ("nobody@example.com", user.email):
        response = client.post(f"{API}/auth/login", json={"email": email, "password": "x" * 80})
        assert response.status_code == 401
    assert len(checkpw_calls) == 2


def test_unknown_email_hash_has_the_configured_cost(
    client: TestClient, user: Account, checkpw_calls: list[bytes]
) -> None:
    client.post(f"{API}/auth/login", json={"email": "nobody@example.com", "password": "wrong pw!"})
    client.post(f"{API}/auth/login", json={"email": user.email, "password": "wrong pw!"})
    dummy, real = checkpw_calls
    # same bcrypt variant and cost factor: "$2b$04$..."
    assert dummy[:7] == real[:7]


# OAuth2 password flow (/auth/token)


def test_token_endpoint_returns_rfc6749_snake_case(client: TestClient, user: Account) -> None:
    response = token_form(client, {"username": user.email, "password": user.password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    assert me(client, body["access_token"]).json()["id"] == str(user.id)
    refreshed = refresh(client, body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text


def test_token_endpoint_accepts_grant_type_password_and_any_email_case(
    client: TestClient, user: Account
) -> None:
    response = token_form(
        client,
        {"grant_type": "password", "username": "USER@example.com", "password": user.password},
    )
    assert response.status_code == 200, response.text
    assert me(client, response.json()["access_token"]).status_code == 200


@pytest.mark.parametrize("email", ["user@example.com", "nobody@example.com"])
def test_token_endpoint_refuses_bad_credentials(
    client: TestClient, user: Account, email: str
) -> None:
    response = token_form(client, {"username": email, "password": "wrong pw!"})
    assert_unauthorized(response)
    assert response.json() == error_body(ErrorCode.LOGIN_BAD_CREDENTIALS)


@pytest.mark.parametrize(
    "grant_type", ["client_credentials", "refresh_token", "PASSWORD", "password "]
)
def test_token_endpoint_refuses_other_grant_types(
    client: TestClient, user: Account, grant_type: str
) -> None:
    response = token_form(
        client, {"grant_type": grant_type, "username": user.email, "password": user.password}
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "user@example.com"}, "password"),
        ({"username": "not an email", "password": PASSWORD}, "username"),
    ],
    ids=["no-username", "no-password", "bad-username"],
)
def test_token_endpoint_refuses_missing_or_invalid_fields(
    client: TestClient, user: Account, data: dict[str, str], field: str
) -> None:
    response = token_form(client, data)
    assert response.status_code == 422, response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", field] in locations


def test_token_endpoint_with_json_body_is_422(client: TestClient, user: Account) -> None:
    response = client.post(
        f"{API}/auth/token", json={"username": user.email, "password": user.password}
    )
    assert response.status_code == 422


def test_token_endpoint_refuses_inactive_users(client: TestClient, inactive_user: Account) -> None:
    response = token_form(
        client, {"username": inactive_user.email, "password": inactive_user.password}
    )
    assert response.status_code == 403
    assert "access_token" not in response.text


# The bearer check


def test_me_without_a_token_is_401(client: TestClient) -> None:
    assert_unauthorized(client.get(ME))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer ",
        "Bearer a.b.c",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "x" * 5000,
        "garbage",
    ],
)
def test_me_with_a_garbage_token_is_401(client: TestClient, authorization: str) -> None:
    response = client.get(ME, headers={"Authorization": authorization})
    assert_unauthorized(response)


def test_me_with_a_valid_token_is_200(client: TestClient, user: Account) -> None:
    response = me(client, user.access_token)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["email"] == user.email
    timestamp(body["createdAt"])
    timestamp(body["updatedAt"])


def test_token_signed_with_another_key_is_401(client: TestClient, user: Account) -> None:
    claims = unverified_claims(user.access_token)
    own = jwt.encode(claims, settings_of(client).secret_key, algorithm="HS256")
    assert me(client, own).status_code == 200  # control: re-signing keeps it valid
    forged = jwt.encode(claims, "another-secret-key-" + "k" * 45, algorithm="HS256")
    assert_unauthorized(me(client, forged))


def test_token_with_alg_none_is_401(client: TestClient, user: Account) -> None:
    claims = unverified_claims(user.access_token)
    for alg in ("none", "None", "NONE"):
        header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        payload = b64url(json.dumps(claims).encode())
        assert_unauthorized(me(client, f"{header}.{payload}."))
        original_signature = user.access_token.rsplit(".", 1)[1]
        assert_unauthorized(me(client, f"{header}.{payload}.{original_signature}"))


def test_token_with_another_hmac_algorithm_is_401(client: TestClient, user: Account) -> None:
    claims = unverified_claims(user.access_token)
    for algorithm in ("HS384", "HS512"):
        with warnings.catch_warnings():  # the test key is short for these algorithms
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            other = jwt.encode(claims, settings_of(client).secret_key, algorithm=algorithm)
        assert_unauthorized(me(client, other))


def test_token_with_a_tampered_payload_is_401(
    client: TestClient, user: Account, other_user: Account
) -> None:
    header, _payload, signature = user.access_token.split(".")
    claims = unverified_claims(user.access_token)
    claims["sub"] = str(other_user.id)
    tampered = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    assert_unauthorized(me(client, tampered))


def test_refresh_token_is_not_an_access_token(client: TestClient, user: Account) -> None:
    assert_unauthorized(me(client, user.refresh_token))
    assert me(client, user.access_token).status_code == 200


def test_reset_token_is_not_an_access_token(client: TestClient, user: Account, db: Session) -> None:
    stored = db.get(User, user.id)
    assert stored is not None
    reset = create_reset_token(
        settings_of(client), user_id=user.id, password_hash=stored.password_hash
    )
    assert_unauthorized(me(client, reset))


def test_expired_access_token_is_401(client: TestClient, user: Account) -> None:
    sid = session_id(user.access_token)

    def access(expires_in: timedelta) -> str:
        return session_token(
            client, "access", user_id=user.id, session_id=sid, expires_in=expires_in
        )

    assert me(client, access(timedelta(minutes=5))).status_code == 200  # control
    assert_unauthorized(me(client, access(-timedelta(seconds=5))))
    assert_unauthorized(me(client, access(-timedelta(days=1))))


def test_access_token_of_an_unknown_session_or_user_is_401(
    client: TestClient, user: Account
) -> None:
    sid = session_id(user.access_token)
    later = timedelta(minutes=5)
    unknown_session = session_token(
        client, "access", user_id=user.id, session_id=uuid.uuid4(), expires_in=later
    )
    assert_unauthorized(me(client, unknown_session))
    unknown_user = session_token(
        client, "access", user_id=uuid.uuid4(), session_id=sid, expires_in=later
    )
    assert_unauthorized(me(client, unknown_user))


@pytest.mark.parametrize(
    "change",
    [
        {"sub": None},
        {"sid": None},
        {"type": None},
        {"iat": None},
        {"exp": None},
        {"jti": None},
        {"sub": "not-a-uuid"},
        {"sid": "not-a-uuid"},
        {"sub": 12345},
        {"sid": 12345},
        {"type": "ACCESS"},
        {"type": ["access"]},
        {"exp": "tomorrow"},
        {"iat": "yesterday"},
    ],
    ids=lambda change: "-".join(f"{key}={value}" for key, value in change.items()),
)
def test_access_token_with_missing_or_odd_claims_is_401(
    client: TestClient, user: Account, change: dict[str, Any]
) -> None:
    claims = unverified_claims(user.access_token)
    for key, value in change.items():
        if value is None:
            del claims[key]
        else:
            claims[key] = value
    token = jwt.encode(claims, settings_of(client).secret_key, algorithm="HS256")
    assert_unauthorized(me(client, token))
