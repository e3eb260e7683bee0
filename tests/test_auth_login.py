"""Signing in with JSON (`POST /auth/login`) and with the OAuth2 password form
(`POST /auth/token`): the token pair, refused credentials, and odd passwords."""

import bcrypt
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from app.core.errors import ErrorCode
from tests.helpers import (
    API,
    EURO,
    PASSWORD,
    Account,
    assert_unauthorized,
    error_body,
    login,
    me,
    refresh,
    unverified_claims,
)


def token_form(client: TestClient, data: dict[str, str]) -> Response:
    return client.post(f"{API}/auth/token", data=data)


# JSON sign-in (/auth/login)


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

    monkeypatch.setattr("app.core.passwords.bcrypt.checkpw", counting)
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
