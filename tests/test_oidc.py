"""Sign-in with an OpenID Connect provider, end to end against a real provider on
loopback (`tests/oidc_provider.py`): the browser's round trip (authorize, the
provider's page, the callback), the landing page's code exchanged for tokens, and
the attacks on it: a wrong `state`, a replayed code, a missing or tampered flow
cookie (the PKCE verifier and nonce it holds), an unverified email against an
existing account, a disabled account."""

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.core.config import Settings
from app.core.errors import ErrorCode
from app.models import AuditEvent, ProviderAnswer, User, UserIdentity
from app.services import oauth_flow
from tests.helpers import (
    API,
    ME,
    PASSWORD,
    Account,
    bearer,
    count_rows,
    error_body,
    fresh,
    settings_of,
)
from tests.oidc_provider import authorize, running_provider, s256, set_user
from tests.test_two_factor import send_code, turn_on

PROVIDERS = f"{API}/auth/providers"
EXCHANGE = f"{PROVIDERS}/exchange"
FRONTEND = "http://app.example.com"
LANDING = f"{FRONTEND}/auth/callback"
CALLBACK = f"{PROVIDERS}/oidc/callback"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with running_provider() as url:
        yield url


@pytest.fixture
def make_app(make_client: Callable[..., TestClient], issuer: str) -> Callable[..., TestClient]:
    """Start an app signing people in with the provider, with setting `overrides`."""

    def make(**overrides: Any) -> TestClient:
        return make_client(
            oidc_issuer_url=issuer,
            oidc_client_id="the-client",
            oidc_client_secret="the-client-secret",
            oidc_name="Test ID",
            frontend_url=FRONTEND,
            public_url="http://testserver",
            **overrides,
        )

    return make


@pytest.fixture
def app(make_app: Callable[..., TestClient]) -> TestClient:
    return make_app()


def put_flow(app: TestClient, token: str) -> None:
    """Make `token` the browser's flow cookie."""
    app.cookies.clear()
    app.cookies.set(oauth_flow.COOKIE, token, domain="testserver.local", path=CALLBACK)


def start(app: TestClient, **params: str) -> str:
    """GET .../authorize; returns the provider's address (asserting the redirect)."""
    response = app.get(f"{PROVIDERS}/oidc/authorize", params=params, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def land(app: TestClient, callback: str) -> dict[str, str]:
    """Follow the provider's redirect to the callback; returns the landing page's
    query (asserting the redirect to the frontend)."""
    response = app.get(callback, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(LANDING + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def sign_in(app: TestClient, issuer: str, subject: str, **claims: Any) -> dict[str, str]:
    """The whole round trip for a person with `claims`; returns the landing query."""
    set_user(issuer, subject, **claims)
    return land(app, authorize(start(app), subject))


def exchange(app: TestClient, code: str) -> Any:
    return app.post(EXCHANGE, json={"code": code})


def signed_in_email(app: TestClient, landed: dict[str, str]) -> str:
    response = exchange(app, landed["code"])
    assert response.status_code == 200, response.text
    me = app.get(ME, headers=bearer(response.json()["accessToken"]))
    assert me.status_code == 200, me.text
    return str(me.json()["email"])


def actions(db: Session) -> list[tuple[str, str | None]]:
    rows = fresh(db).exec(select(AuditEvent).order_by(col(AuditEvent.occurred_at))).all()
    db.commit()
    return [(row.action, row.reason) for row in rows]


def identities(db: Session) -> list[UserIdentity]:
    rows = list(fresh(db).exec(select(UserIdentity)).all())
    db.commit()
    return rows


# The happy paths


def test_the_provider_is_listed(app: TestClient) -> None:
    response = app.get(PROVIDERS)
    assert response.status_code == 200
    assert response.json() == [
        {"name": "oidc", "displayName": "Test ID", "authorizeUrl": f"{PROVIDERS}/oidc/authorize"}
    ]


def test_a_first_sign_in_makes_the_account(app: TestClient, issuer: str, db: Session) -> None:
    landed = sign_in(app, issuer, "person-1", email="New@Example.com", email_verified=True)
    assert set(landed) == {"code"}
    response = exchange(app, landed["code"])
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}
    me = app.get(ME, headers=bearer(response.json()["accessToken"])).json()
    assert (me["email"], me["emailVerified"]) == ("new@example.com", True)
    [linked] = identities(db)
    assert (linked.provider, linked.subject, linked.email) == ("oidc", "person-1", me["email"])
    assert linked.last_used_at is not None
    assert actions(db) == [
        ("user.created", None),
        ("identity.linked", "oidc"),
        ("auth.login.succeeded", "provider:oidc"),
    ]
    # no password: any password is refused as a wrong one
    login = app.post(f"{API}/auth/login", json={"email": me["email"], "password": PASSWORD})
    assert login.json() == error_body(ErrorCode.LOGIN_BAD_CREDENTIALS)


def test_a_browser_app_gets_its_session_as_cookies(app: TestClient, issuer: str) -> None:
    landed = sign_in(app, issuer, "person-c", email="cookie@example.com", email_verified=True)
    response = app.post(EXCHANGE, json={"code": landed["code"]}, headers={"X-Auth-Mode": "cookie"})
    assert response.status_code == 200, response.text
    assert response.json()["tokenType"] == "cookie"
    assert "accessToken" not in response.json()
    set_cookies = response.headers.get_list("set-cookie")
    assert all("HttpOnly" in cookie for cookie in set_cookies)
    assert len(set_cookies) == 2
    assert app.get(ME).json()["email"] == "cookie@example.com"  # the cookie signs in


def test_the_next_sign_in_finds_the_same_account(app: TestClient, issuer: str, db: Session) -> None:
    first = sign_in(app, issuer, "person-2", email="two@example.com", email_verified=True)
    assert signed_in_email(app, first) == "two@example.com"
    # the subject decides, not the email the provider gives now
    again = sign_in(app, issuer, "person-2", email="moved@example.com", email_verified=True)
    assert signed_in_email(app, again) == "two@example.com"
    assert count_rows(db, User) == 1
    assert [row.email for row in identities(db)] == ["moved@example.com"]


def test_an_existing_account_with_the_verified_email_is_linked(
    app: TestClient, issuer: str, user: Account, db: Session
) -> None:
    landed = sign_in(app, issuer, "person-3", email=user.email, email_verified=True)
    assert signed_in_email(app, landed) == user.email
    [linked] = identities(db)
    assert linked.user_id == user.id
    assert count_rows(db, User) == 1


def test_an_account_with_two_factor_gets_a_challenge(
    app: TestClient, issuer: str, user: Account, db: Session
) -> None:
    secret, _codes = turn_on(app, db, user)
    landed = sign_in(app, issuer, "person-4", email=user.email, email_verified=True)
    response = exchange(app, landed["code"])
    assert response.status_code == 202, response.text
    assert response.json()["twoFactorRequired"] is True
    finished = send_code(app, response.json()["challengeToken"], pyotp.TOTP(secret).now())
    assert finished.status_code == 200, finished.text


def test_a_path_to_land_on_is_kept(app: TestClient, issuer: str) -> None:
    set_user(issuer, "person-5", email="five@example.com", email_verified=True)
    callback = authorize(start(app, redirectTo="/welcome?from=oidc"), "person-5")
    response = app.get(callback, follow_redirects=False)
    assert response.headers["location"].startswith(f"{FRONTEND}/welcome?from=oidc&code=")


@pytest.mark.parametrize(
    "target", ["https://evil.example/x", "//evil.example/x", "http://app.example.com@evil.example"]
)
def test_no_landing_off_the_frontend(app: TestClient, target: str) -> None:
    response = app.get(
        f"{PROVIDERS}/oidc/authorize", params={"redirectTo": target}, follow_redirects=False
    )
    assert response.json() == error_body(ErrorCode.OAUTH_REDIRECT_INVALID)


def test_the_redirect_carries_state_nonce_and_an_s256_challenge(app: TestClient) -> None:
    location = start(app)
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    cookie = app.cookies.get(oauth_flow.COOKIE)
    flow = oauth_flow.read_flow(settings_of(app), cookie, "oidc")
    assert flow is not None
    assert query["state"] == flow.state
    assert query["nonce"] == flow.nonce
    assert (query["code_challenge"], query["code_challenge_method"]) == (
        s256(flow.verifier),
        "S256",
    )
    assert query["redirect_uri"] == f"http://testserver{CALLBACK}"
    assert query["scope"] == "openid email profile"


def test_the_flow_cookie_is_short_lived_and_kept_from_scripts(app: TestClient) -> None:
    response = app.get(f"{PROVIDERS}/oidc/authorize", follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert f"Path={CALLBACK}" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=600" in cookie


# Attacks and refusals


def assert_refused(landed: dict[str, str], code: ErrorCode, db: Session) -> None:
    assert landed == {"error": code.value}
    assert count_rows(db, ProviderAnswer) == 0
    assert actions(db)[-1] == ("auth.login.failed", code.lower())


def test_a_wrong_state_is_refused(app: TestClient, issuer: str, db: Session) -> None:
    set_user(issuer, "person-6", email="six@example.com", email_verified=True)
    callback = authorize(start(app), "person-6")
    forged = callback.replace("state=", "state=x")
    assert_refused(land(app, forged), ErrorCode.OAUTH_STATE_INVALID, db)


def test_another_browsers_answer_is_refused(app: TestClient, issuer: str, db: Session) -> None:
    """Login CSRF: the attacker's own code, planted in a victim's browser (whose
    flow cookie, if any, holds another state)."""
    set_user(issuer, "attacker", email="attacker@example.com", email_verified=True)
    callback = authorize(start(app), "attacker")
    start(app)  # the victim's own sign-in under way replaces the cookie
    assert_refused(land(app, callback), ErrorCode.OAUTH_STATE_INVALID, db)
    app.cookies.clear()  # a victim with no sign-in under way
    assert_refused(land(app, callback), ErrorCode.OAUTH_STATE_INVALID, db)


def test_a_replayed_code_is_refused(app: TestClient, issuer: str, db: Session) -> None:
    set_user(issuer, "person-7", email="seven@example.com", email_verified=True)
    callback = authorize(start(app), "person-7")
    cookie = app.cookies.get(oauth_flow.COOKIE)
    landed = land(app, callback)
    # the provider's code again, with the very cookie (as one who copied both would)
    put_flow(app, str(cookie))
    assert land(app, callback) == {"error": ErrorCode.OAUTH_EXCHANGE_FAILED.value}
    # the landing page's code works once
    assert exchange(app, landed["code"]).status_code == 200
    assert exchange(app, landed["code"]).json() == error_body(ErrorCode.OAUTH_CODE_INVALID)


def replace_flow(app: TestClient, **changes: str) -> None:
    """Re-sign the browser's flow cookie with `changes` (as the service's key would:
    the provider's own checks are what stops it)."""
    settings = settings_of(app)
    flow = oauth_flow.read_flow(settings, app.cookies.get(oauth_flow.COOKIE), "oidc")
    assert flow is not None
    token = oauth_flow.flow_token(settings, flow.model_copy(update=changes))
    put_flow(app, token)


def test_a_missing_or_wrong_pkce_verifier_is_refused(
    app: TestClient, issuer: str, db: Session
) -> None:
    set_user(issuer, "person-8", email="eight@example.com", email_verified=True)
    callback = authorize(start(app), "person-8")
    # a cookie not signed with the service's key: refused before any exchange
    forged = Settings(_env_file=None, environment="test", jwt_secret_key="another-key-" + "x" * 40)
    flow = oauth_flow.read_flow(settings_of(app), app.cookies.get(oauth_flow.COOKIE), "oidc")
    assert flow is not None
    put_flow(app, oauth_flow.flow_token(forged, flow))
    assert_refused(land(app, callback), ErrorCode.OAUTH_STATE_INVALID, db)
    # the right state without its verifier, or with another: the provider refuses
    for verifier in ("", "x" * 64):
        put_flow(app, oauth_flow.flow_token(settings_of(app), flow))
        replace_flow(app, verifier=verifier)
        assert_refused(land(app, callback), ErrorCode.OAUTH_EXCHANGE_FAILED, db)


def test_an_id_token_for_another_nonce_is_refused(
    app: TestClient, issuer: str, db: Session
) -> None:
    set_user(issuer, "person-9", email="nine@example.com", email_verified=True)
    callback = authorize(start(app), "person-9")
    replace_flow(app, nonce="another-nonce")
    assert_refused(land(app, callback), ErrorCode.OAUTH_EXCHANGE_FAILED, db)


def test_a_declined_sign_in_lands_with_its_error(app: TestClient, db: Session) -> None:
    callback = authorize(start(app), None, deny=True)
    assert_refused(land(app, callback), ErrorCode.OAUTH_PROVIDER_DENIED, db)


def test_an_unverified_email_does_not_link_an_existing_account(
    app: TestClient, issuer: str, user: Account, db: Session
) -> None:
    landed = sign_in(app, issuer, "person-10", email=user.email, email_verified=False)
    response = exchange(app, landed["code"])
    assert response.status_code == 403
    assert response.json() == error_body(ErrorCode.OAUTH_EMAIL_NOT_VERIFIED)
    assert identities(db) == []
    assert actions(db)[-1] == ("auth.login.failed", "oauth_email_not_verified")
    # nor does it make a new account
    landed = sign_in(app, issuer, "person-11", email="fresh@example.com")
    assert exchange(app, landed["code"]).status_code == 403
    assert count_rows(db, User) == 1


def test_a_disabled_account_is_refused(
    app: TestClient, issuer: str, inactive_user: Account, db: Session
) -> None:
    landed = sign_in(app, issuer, "person-12", email=inactive_user.email, email_verified=True)
    response = exchange(app, landed["code"])
    assert response.status_code == 403
    assert response.json() == error_body(ErrorCode.ACCOUNT_DISABLED)
    assert identities(db) == []
    assert actions(db)[-1] == ("auth.login.failed", "account_disabled")


def test_no_account_is_made_while_registration_is_closed(
    make_app: Callable[..., TestClient], issuer: str, db: Session
) -> None:
    closed = make_app(allow_registration=False)
    landed = sign_in(closed, issuer, "person-13", email="closed@example.com", email_verified=True)
    assert exchange(closed, landed["code"]).json() == error_body(ErrorCode.REGISTRATION_DISABLED)
    assert count_rows(db, User) == 0


def test_bad_exchange_codes_are_throttled(make_app: Callable[..., TestClient]) -> None:
    strict = make_app(login_max_failures_per_ip=2)
    for _ in range(2):
        assert exchange(strict, "made-up").json() == error_body(ErrorCode.OAUTH_CODE_INVALID)
    response = exchange(strict, "made-up")
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0


def test_an_unconfigured_provider_is_not_found(app: TestClient) -> None:
    response = app.get(f"{PROVIDERS}/github/authorize", follow_redirects=False)
    assert response.status_code == 404
    assert response.json() == error_body(ErrorCode.OAUTH_PROVIDER_UNKNOWN)
    assert app.get(f"{PROVIDERS}/nope/authorize").status_code == 422
