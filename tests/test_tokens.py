"""Signed tokens: one instant per token, one purpose per token, keys that rotate."""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import count

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session

from app.core import tokens
from app.core.config import Settings
from app.models import User
from app.models.fields import utcnow
from tests.helpers import API, PASSWORD, Account, login, me_status, settings_of


@pytest.fixture
def ticking_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read of the clock is 0.6 s later than the one before, so a token built
    from two reads would cross a second boundary."""
    start, ticks = utcnow(), count()

    def now() -> datetime:
        return start + timedelta(seconds=0.6 * next(ticks))

    monkeypatch.setattr(tokens, "utcnow", now)
    monkeypatch.setattr("app.services.sessions.utcnow", now)
    monkeypatch.setattr("app.services.rotation.utcnow", now)


@pytest.mark.usefixtures("ticking_clock")
def test_an_access_token_lives_exactly_expires_in(client: TestClient, user: Account) -> None:
    for _ in range(4):
        response = client.post(
            f"{API}/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        pair = response.json()
        for token in (pair["accessToken"],):
            claims = jwt.decode(token, options={"verify_signature": False})
            assert claims["exp"] - claims["iat"] == pair["expiresIn"]


# Signing-key rotation

OLD_KEY = "the-previous-signing-key-" + "o" * 30
NEW_KEY = "the-current-signing-key-" + "n" * 30


def signed_in_with(make_client: Callable[..., TestClient], user: Account, key: str) -> str:
    """An access token of `user` from an app signing with `key`."""
    client = make_client(jwt_secret_key=key)
    token: str = login(client, user.email)["accessToken"]
    return token


def test_tokens_name_their_key(make_client: Callable[..., TestClient], user: Account) -> None:
    token = signed_in_with(make_client, user, NEW_KEY)
    assert jwt.get_unverified_header(token)["kid"] == tokens.key_id(NEW_KEY)
    assert tokens.key_id(NEW_KEY) not in NEW_KEY  # a digest, not the key


def test_a_rotation_keeps_everyone_signed_in_until_the_old_key_goes(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    before = signed_in_with(make_client, user, OLD_KEY)
    rotated = make_client(jwt_secret_key=NEW_KEY, jwt_previous_secret_keys=OLD_KEY)
    assert me_status(rotated, before) == 200
    assert jwt.get_unverified_header(login(rotated, user.email)["accessToken"])["kid"] == (
        tokens.key_id(NEW_KEY)
    )
    retired = make_client(jwt_secret_key=NEW_KEY)
    assert me_status(retired, before) == 401


def test_an_unknown_kid_is_401(make_client: Callable[..., TestClient], user: Account) -> None:
    token = signed_in_with(make_client, user, OLD_KEY)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, OLD_KEY, algorithm="HS256", headers={"kid": "0123456789abcdef"})
    assert me_status(make_client(jwt_secret_key=OLD_KEY), forged) == 401
    assert me_status(make_client(jwt_secret_key=OLD_KEY), signed({"kid": 12}, claims)) == 401


def signed(header: dict[str, object], claims: dict[str, object], key: str = OLD_KEY) -> str:
    """A JWT with any header at all (pyjwt refuses to write odd ones), signed with `key`."""

    def part(value: object) -> str:
        raw = json.dumps({"alg": "HS256", "typ": "JWT", **header} if value is header else value)
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    mac = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_a_token_without_kid_is_tried_against_previous_keys(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    # Issued before tokens named their key: checked against each key in turn.
    token = signed_in_with(make_client, user, OLD_KEY)
    legacy = jwt.encode(jwt.decode(token, OLD_KEY, algorithms=["HS256"]), OLD_KEY, "HS256")
    assert "kid" not in jwt.get_unverified_header(legacy)
    rotated = make_client(jwt_secret_key=NEW_KEY, jwt_previous_secret_keys=OLD_KEY)
    assert me_status(rotated, legacy) == 200
    assert me_status(make_client(jwt_secret_key=NEW_KEY), legacy) == 401


def test_an_expired_token_is_never_tried_against_other_keys(
    make_client: Callable[..., TestClient], user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(make_client(jwt_secret_key=NEW_KEY, jwt_previous_secret_keys=OLD_KEY))
    claims = {"sub": str(user.id), "type": "access", "sid": str(user.id), "jti": "x"}
    now = utcnow()
    expired = jwt.encode(
        {**claims, "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)},
        NEW_KEY,
        "HS256",
    )
    tried: list[str] = []
    decode = jwt.decode

    def counting(token: str, key: str, **options: object) -> object:
        tried.append(key)
        return decode(token, key, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting)
    with pytest.raises(tokens.InvalidTokenError):
        tokens.decode_session_token(settings, expired, "access")
    assert tried == [NEW_KEY]


def test_reset_links_mailed_before_a_rotation_still_work(
    make_client: Callable[..., TestClient], user: Account, db: Session
) -> None:
    old = make_client(jwt_secret_key=OLD_KEY)
    row = db.get(User, user.id)
    assert row is not None
    link = tokens.create_reset_token(
        settings_of(old),
        user_id=user.id,
        email=row.email,
        email_changes=row.email_changes,
        password_hash=row.password_hash,
    )
    rotated = make_client(jwt_secret_key=NEW_KEY, jwt_previous_secret_keys=OLD_KEY)
    body = {"token": link, "newPassword": "after the rotation"}
    assert rotated.post(f"{API}/auth/password-reset/confirm", json=body).status_code == 204
    assert rotated.post(f"{API}/auth/password-reset/confirm", json=body).status_code == 400


@pytest.mark.parametrize(
    ("previous", "error"),
    [
        ("short", "at least 32 characters"),
        ("changeme", "at least 32"),
        (NEW_KEY, "must differ"),
        (f"{OLD_KEY},{OLD_KEY}", "must differ"),
        (",".join(f"{OLD_KEY}{n}" for n in range(4)), "at most 3"),
    ],
)
def test_previous_keys_are_checked(previous: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        Settings(
            _env_file=None,
            environment="production",
            jwt_secret_key=NEW_KEY,
            jwt_previous_secret_keys=previous,
        )
