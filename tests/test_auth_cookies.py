"""Cookie mode (`X-Auth-Mode: cookie`): the tokens as HttpOnly cookies, sign-in, refresh
with rotation and reuse detection, sign-out, two-factor sign-in, cross-site requests
refused for cookie-signed-in calls (and only those), and the settings browsers need.

Each test signs in with a client of its own (`browser`): its cookie jar keeps the
cookies, scoped by path, as a browser's does, and is gone after the test.
"""

from collections.abc import Callable
from http.cookies import Morsel, SimpleCookie
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from pydantic import ValidationError
from sqlmodel import Session, select

from app.core.config import Settings, describe_validation_error
from app.core.errors import ErrorCode
from app.models import AuthSession, Item
from tests.helpers import API, ME, Account, bearer, error_body, fresh, session_id, settings_of
from tests.test_two_factor import challenge, turn_on

LOGIN = f"{API}/auth/login"
REFRESH = f"{API}/auth/refresh"
LOGOUT = f"{API}/auth/logout"
ITEMS = f"{API}/items"
COOKIE_MODE = {"X-Auth-Mode": "cookie"}
FRONTEND = "http://localhost:5173"


# Helpers


def browser(client: TestClient) -> TestClient:
    """A client of the same app with a cookie jar of its own."""
    return TestClient(client.app)


def set_cookies(response: Response) -> dict[str, Morsel[str]]:
    """The cookies a response sets, by name, with their attributes."""
    cookies: dict[str, Morsel[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        cookies.update(jar)
    return cookies


def sign_in(web: TestClient, account: Account, **headers: str) -> Response:
    """Sign in in cookie mode (asserting 200)."""
    response = web.post(
        LOGIN,
        json={"email": account.email, "password": account.password},
        headers={**COOKIE_MODE, **headers},
    )
    assert response.status_code == 200, response.text
    return response


def cookie(web: TestClient, name: str) -> str:
    value = web.cookies.get(name)
    assert value, f"no {name} cookie"
    return str(value)


def assert_cleared(response: Response) -> None:
    cookies = set_cookies(response)
    assert set(cookies) == {"access_token", "refresh_token"}
    for name, path in [("access_token", API), ("refresh_token", REFRESH)]:
        assert cookies[name].value in ("", '""')
        assert (cookies[name]["max-age"], cookies[name]["path"]) == ("0", path)


def session_revoked(db: Session, token: str) -> bool:
    row = fresh(db).get(AuthSession, session_id(token))
    db.commit()
    assert row is not None
    return row.revoked_at is not None


# Signing in


def test_sign_in_sets_httponly_cookies_and_answers_no_token(
    client: TestClient, user: Account
) -> None:
    response = sign_in(browser(client), user)
    settings = settings_of(client)
    assert response.json() == {"tokenType": "cookie", "expiresIn": 30 * 60}
    assert "eyJ" not in response.text
    cookies = set_cookies(response)
    assert set(cookies) == {"access_token", "refresh_token"}
    access, refresh = cookies["access_token"], cookies["refresh_token"]
    assert (access["path"], refresh["path"]) == (API, REFRESH)
    assert (access["max-age"], refresh["max-age"]) == (str(30 * 60), str(7 * 86_400))
    for morsel in (access, refresh):
        assert morsel["httponly"] is True
        assert morsel["samesite"].lower() == "lax"
        assert not morsel["secure"]  # not in production, by default
        assert not morsel["domain"]
    assert settings.cookie_secure is False


def test_cookie_attributes_follow_the_settings(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    web = make_client(
        auth_cookie_samesite="none",
        auth_cookie_secure=True,
        auth_cookie_domain="Example.com",
        access_token_expire_minutes=5,
        refresh_token_expire_days=2,
    )
    cookies = set_cookies(sign_in(web, user))
    for morsel in cookies.values():
        assert morsel["secure"] is True
        assert morsel["samesite"].lower() == "none"
        assert morsel["domain"] == "example.com"
    assert (cookies["access_token"]["max-age"], cookies["refresh_token"]["max-age"]) == (
        "300",
        str(2 * 86_400),
    )


def test_bearer_mode_stays_the_default(client: TestClient, user: Account) -> None:
    web = browser(client)
    for headers in ({}, {"X-Auth-Mode": "bearer"}):
        response = web.post(
            LOGIN, json={"email": user.email, "password": user.password}, headers=headers
        )
        assert response.status_code == 200
        assert set(response.json()) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
        assert "set-cookie" not in response.headers
    wrong = web.post(LOGIN, json={"email": user.email, "password": user.password},
                     headers={"X-Auth-Mode": "session"})  # fmt: skip
    assert wrong.status_code == 422


def test_the_access_cookie_signs_requests_in(client: TestClient, user: Account) -> None:
    web = browser(client)
    assert web.get(ME).status_code == 401
    sign_in(web, user)
    assert web.get(ME).json()["email"] == user.email
    created = web.post(ITEMS, json={"title": "From the browser"})
    assert created.status_code == 201, created.text
    assert created.json()["ownerId"] == str(user.id)


def test_the_authorization_header_wins_over_the_cookie(
    client: TestClient, user: Account, other_user: Account
) -> None:
    web = browser(client)
    sign_in(web, user)
    assert web.get(ME, headers=other_user.headers).json()["email"] == other_user.email
    wrong = web.get(ME, headers=bearer("not-a-token"))
    assert wrong.status_code == 401  # no second try with the cookie
    assert wrong.json() == error_body(ErrorCode.TOKEN_INVALID)


def test_an_api_token_or_a_refresh_token_is_no_access_cookie(
    client: TestClient, user: Account
) -> None:
    made = client.post(
        f"{ME}/tokens", json={"name": "script", "scopes": ["read"]}, headers=user.headers
    )
    assert made.status_code == 201
    assert client.get(ME, headers=bearer(made.json()["token"])).status_code == 200
    for value in (made.json()["token"], user.refresh_token):
        answer = browser(client).get(ME, headers={"Cookie": f"access_token={value}"})
        assert answer.status_code == 401
        assert answer.json() == error_body(ErrorCode.TOKEN_INVALID)


def test_a_two_factor_sign_in_sets_the_cookies_at_the_second_step(
    client: TestClient, user: Account, db: Session
) -> None:
    secret, _ = turn_on(client, db, user)
    web = browser(client)
    first = web.post(
        LOGIN, json={"email": user.email, "password": user.password}, headers=COOKIE_MODE
    )
    assert first.status_code == 202
    assert "set-cookie" not in first.headers
    token = challenge(client, user)
    second = web.post(
        f"{LOGIN}/two-factor",
        json={"challengeToken": token, "code": pyotp.TOTP(secret).now()},
        headers=COOKIE_MODE,
    )
    assert second.status_code == 200, second.text
    assert second.json()["tokenType"] == "cookie"
    assert set(set_cookies(second)) == {"access_token", "refresh_token"}
    assert web.get(ME).json()["email"] == user.email


# Refreshing and signing out


def test_refresh_reads_the_refresh_cookie_and_rotates_it(
    client: TestClient, user: Account, db: Session
) -> None:
    web = browser(client)
    sign_in(web, user)
    spent, old_access = cookie(web, "refresh_token"), cookie(web, "access_token")
    response = web.post(REFRESH, headers=COOKIE_MODE)  # no body
    assert response.status_code == 200, response.text
    assert response.json() == {"tokenType": "cookie", "expiresIn": 30 * 60}
    assert cookie(web, "refresh_token") != spent
    assert cookie(web, "access_token") != old_access
    assert web.get(ME).status_code == 200
    assert not session_revoked(db, spent)


def test_a_spent_refresh_cookie_revokes_its_session(
    make_client: Callable[..., TestClient], user: Account, db: Session
) -> None:
    web = make_client(refresh_grace_seconds=0)
    sign_in(web, user)
    spent = cookie(web, "refresh_token")
    assert web.post(REFRESH, headers=COOKIE_MODE).status_code == 200
    thief = TestClient(web.app)
    replay = thief.post(REFRESH, headers={**COOKIE_MODE, "Cookie": f"refresh_token={spent}"})
    assert replay.status_code == 401
    assert replay.json() == error_body(ErrorCode.REFRESH_TOKEN_INVALID)
    assert_cleared(replay)
    assert session_revoked(db, spent)
    assert web.get(ME).status_code == 401  # the live access cookie died with it


def test_a_refresh_without_a_cookie_is_refused_and_clears_the_cookies(
    client: TestClient, user: Account
) -> None:
    web = browser(client)
    body = {"refreshToken": user.refresh_token}
    refused = web.post(REFRESH, json=body, headers=COOKIE_MODE)  # the cookie's, not the body's
    assert refused.status_code == 401
    assert refused.json() == error_body(ErrorCode.REFRESH_TOKEN_INVALID)
    assert_cleared(refused)
    assert web.post(REFRESH).status_code == 401  # bearer mode needs the body
    assert web.post(REFRESH, json=body).status_code == 200


def test_logout_clears_the_cookies_and_revokes_the_session(
    client: TestClient, user: Account, db: Session
) -> None:
    web = browser(client)
    sign_in(web, user)
    access = cookie(web, "access_token")
    response = web.post(LOGOUT, headers=COOKIE_MODE)
    assert response.status_code == 204
    assert_cleared(response)
    assert not web.cookies
    assert session_revoked(db, access)
    assert client.get(ME, headers=bearer(access)).status_code == 401


def test_logout_all_signs_every_session_out(client: TestClient, user: Account, db: Session) -> None:
    web, other_tab = browser(client), browser(client)
    sign_in(web, user)
    sign_in(other_tab, user)
    response = web.post(f"{LOGOUT}-all", headers=COOKIE_MODE)
    assert response.status_code == 204
    assert_cleared(response)
    assert other_tab.get(ME).status_code == 401
    assert client.get(ME, headers=user.headers).status_code == 401


# Cross-site requests


def count_items(db: Session) -> int:
    total = len(fresh(db).exec(select(Item)).all())
    db.commit()
    return total


FOREIGN = "https://evil.example"
REFUSED = [
    {"Sec-Fetch-Site": "cross-site", "Origin": FOREIGN},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.testserver"},
    {"Sec-Fetch-Site": "none"},
    {"Origin": FOREIGN},
    {"Origin": "null"},
    {"Referer": f"{FOREIGN}/page"},
]
REFUSED_IDS = ["cross-site", "same-site", "typed", "origin", "null-origin", "referer"]


@pytest.mark.parametrize("headers", REFUSED, ids=REFUSED_IDS)
def test_cookie_signed_in_changes_from_elsewhere_are_refused(
    client: TestClient, user: Account, db: Session, headers: dict[str, str]
) -> None:
    web = browser(client)
    sign_in(web, user)
    answers = [
        web.post(ITEMS, json={"title": "Forged"}, headers=headers),
        web.patch(f"{ME}", json={"name": "Forged"}, headers=headers),
        web.post(REFRESH, headers={**COOKIE_MODE, **headers}),
        web.post(LOGOUT, headers={**COOKIE_MODE, **headers}),
        web.post(f"{LOGOUT}-all", headers=headers),
        web.post(LOGIN, json={"email": user.email, "password": user.password},
                 headers={**COOKIE_MODE, **headers}),
    ]  # fmt: skip
    assert [answer.status_code for answer in answers] == [403] * len(answers)
    assert answers[0].json() == error_body(ErrorCode.CROSS_SITE_REQUEST)
    assert count_items(db) == 0
    assert web.get(ME, headers=headers).json()["name"] == "User"  # reading is no change


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        {"Origin": "http://testserver"},
        {"Sec-Fetch-Site": "same-site", "Origin": FRONTEND},
        {"Sec-Fetch-Site": "cross-site", "Origin": FRONTEND},
        {"Origin": FRONTEND},
        {"Referer": f"{FRONTEND}/items"},
        {},  # no browser page: nothing says where it comes from
    ],
    ids=["same-origin", "own-origin", "frontend-same-site", "frontend", "frontend-origin",
         "frontend-referer", "no-browser"],
)  # fmt: skip
def test_changes_from_this_origin_or_an_allowed_frontend_pass(
    make_client: Callable[..., TestClient], user: Account, headers: dict[str, str]
) -> None:
    web = make_client(cors_origins=FRONTEND)
    sign_in(web, user, **headers)
    assert web.post(ITEMS, json={"title": "Mine"}, headers=headers).status_code == 201
    assert web.post(REFRESH, headers={**COOKIE_MODE, **headers}).status_code == 200
    assert web.post(LOGOUT, headers={**COOKIE_MODE, **headers}).status_code == 204


def test_any_origin_in_cors_origins_trusts_no_origin(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    web = make_client(cors_origins="*")
    sign_in(web, user)
    forged = web.post(ITEMS, json={"title": "Forged"}, headers={"Origin": FOREIGN})
    assert forged.status_code == 403


def test_bearer_requests_are_not_checked(client: TestClient, user: Account) -> None:
    for headers in REFUSED:
        created = client.post(ITEMS, json={"title": "Script"}, headers={**user.headers, **headers})
        assert created.status_code == 201, headers
    web = browser(client)
    sign_in(web, user)  # with the cookie and a bearer token, the header is what counts
    crossing = web.post(ITEMS, json={"title": "Both"}, headers={**user.headers, **REFUSED[0]})
    assert crossing.status_code == 201


def test_an_allowed_frontend_may_send_credentials_and_the_mode_header(
    make_client: Callable[..., TestClient],
) -> None:
    web = make_client(cors_origins=FRONTEND)
    preflight = web.options(
        LOGIN,
        headers={
            "Origin": FRONTEND,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-auth-mode",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert "x-auth-mode" in preflight.headers["Access-Control-Allow-Headers"].lower()


# Settings


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth_cookie_samesite": "none"}, "AUTH_COOKIE_SAMESITE=none needs AUTH_COOKIE_SECURE"),
        ({"auth_cookie_samesite": "None", "auth_cookie_secure": "false",
          "environment": "production"}, "needs AUTH_COOKIE_SECURE=true"),
        ({"auth_cookie_samesite": "sometimes"}, "AUTH_COOKIE_SAMESITE: Input should be"),
        ({"auth_cookie_domain": "127.0.0.1"}, "no leading dot, scheme, port, path or IP"),
        ({"auth_cookie_domain": "[::1]"}, "is not a cookie domain browsers accept"),
        ({"auth_cookie_domain": ".example.com"}, "is not a cookie domain browsers accept"),
        ({"auth_cookie_domain": "localhost"}, "is not a cookie domain browsers accept"),
        ({"auth_cookie_domain": "https://example.com"}, "is not a cookie domain"),
        ({"auth_cookie_domain": "example.com:8000"}, "is not a cookie domain"),
    ],
)  # fmt: skip
def test_cookie_settings_browsers_would_reject_stop_start_up(
    values: dict[str, Any], message: str
) -> None:
    base = {"environment": "test", "jwt_secret_key": "k" * 40}
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **{**base, **values})
    assert message in describe_validation_error(caught.value, upper=True)


def test_cookies_are_secure_in_production_unless_told_otherwise() -> None:
    key: dict[str, Any] = {"jwt_secret_key": "k7Qz0vN3xW9pL2mR8tY5uB1cE6hJ4aSd"}
    assert Settings(_env_file=None, environment="production", **key).cookie_secure is True
    assert Settings(_env_file=None, environment="development", **key).cookie_secure is False
    told = Settings(_env_file=None, environment="production", auth_cookie_secure=False, **key)
    assert told.cookie_secure is False
    lax = Settings(_env_file=None, environment="test", auth_cookie_samesite="Strict", **key)
    assert lax.auth_cookie_samesite == "strict"
    both = Settings(_env_file=None, environment="test", auth_cookie_samesite="none",
                    auth_cookie_secure=True, **key)  # fmt: skip
    assert both.cookie_secure is True


def test_the_document_declares_the_mode_and_both_answers(client: TestClient) -> None:
    spec = client.get(f"{API}/openapi.json").json()
    for path in ("/auth/login", "/auth/login/two-factor", "/auth/refresh"):
        operation = spec["paths"][f"{API}{path}"]["post"]
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/SignInAnswer"}
        assert "X-Auth-Mode" in [parameter["name"] for parameter in operation["parameters"]]
        assert "`CROSS_SITE_REQUEST`" in operation["responses"]["403"]["description"]
    answer = spec["components"]["schemas"]["SignInAnswer"]
    assert answer["discriminator"]["mapping"] == {
        "bearer": "#/components/schemas/TokenPair",
        "cookie": "#/components/schemas/CookieSession",
    }
    assert set(spec["components"]["schemas"]["CookieSession"]["properties"]) == {
        "tokenType",
        "expiresIn",
    }
    items = spec["paths"][f"{API}/items"]
    assert "`CROSS_SITE_REQUEST`" in items["post"]["responses"]["403"]["description"]
    assert "403" not in items["get"]["responses"]
