"""The bearer check on every signed-in route: which access tokens it refuses
(missing, garbage, forged, of another kind, expired, of an unknown session)."""

import base64
import json
import uuid
import warnings
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from jwt.warnings import InsecureKeyLengthWarning
from sqlmodel import Session

from app.core.tokens import create_reset_token
from app.models import User
from tests.helpers import (
    ME,
    USER_FIELDS,
    Account,
    assert_unauthorized,
    me,
    session_id,
    session_token,
    settings_of,
    timestamp,
    unverified_claims,
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


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
        settings_of(client),
        user_id=user.id,
        email=stored.email,
        email_changes=stored.email_changes,
        password_hash=stored.password_hash,
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
