"""Sign-in providers' configuration, and the providers this machine cannot reach
(GitHub, Google): settings checked at start-up, the authorization redirect GitHub
gets, GitHub's user and email read from its API's shape, Google's discovery, and a
provider that does not answer. The end-to-end flow is `test_oidc.py`'s."""

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.core.config import Settings
from app.core.errors import AppError, ErrorCode
from app.services import oauth_providers
from app.services.oauth_providers import GOOGLE_ISSUER, Identity
from tests.helpers import API, TEST_SECRET, free_port

PROVIDERS = f"{API}/auth/providers"
FRONTEND = "https://app.example.com"
GITHUB = {"github_client_id": "gh-client", "github_client_secret": "gh-secret"}
GOOGLE = {"google_client_id": "g-client", "google_client_secret": "g-secret"}


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, environment="test", jwt_secret_key=TEST_SECRET, **values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"github_client_id": "x"}, "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET go together"),
        ({"google_client_secret": "x"}, "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET go together"),
        ({"oidc_client_id": "x", "oidc_client_secret": "y"}, "OIDC_ISSUER_URL and OIDC_CLIENT_ID"),
        ({"oidc_issuer_url": "http://id.example.com"}, "must use https"),
        ({"oidc_issuer_url": "id.example.com"}, "is not an issuer URL"),
        ({"oauth_landing_path": "//evil.example"}, "oauth_landing_path"),
        (GITHUB, "set FRONTEND_URL"),
    ],
)
def test_settings_refuse_half_a_provider(values: dict[str, str], message: str) -> None:
    frontend = {} if "FRONTEND_URL" in message else {"frontend_url": FRONTEND}
    with pytest.raises(ValidationError, match=message):
        settings(**values, **frontend)


def test_every_configured_provider_is_listed(make_client: Callable[..., TestClient]) -> None:
    app = make_client(
        **GITHUB, **GOOGLE, oidc_issuer_url="https://id.example.com/", oidc_client_id="o",
        oidc_client_secret="s", oidc_name="Company SSO", frontend_url=FRONTEND,
    )  # fmt: skip
    listed = app.get(PROVIDERS).json()
    assert [(entry["name"], entry["displayName"]) for entry in listed] == [
        ("github", "GitHub"),
        ("google", "Google"),
        ("oidc", "Company SSO"),
    ]
    providers = oauth_providers.configured(settings(**GOOGLE, frontend_url=FRONTEND))
    assert providers["google"].issuer == GOOGLE_ISSUER


def test_github_gets_an_authorization_request_with_pkce(
    make_client: Callable[..., TestClient],
) -> None:
    app = make_client(**GITHUB, frontend_url=FRONTEND, public_url="https://api.example.com/")
    response = app.get(f"{PROVIDERS}/github/authorize", follow_redirects=False)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "https://github.com/login/oauth/authorize"
    )
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query.pop("state")
    assert query.pop("code_challenge")
    assert query == {
        "response_type": "code",
        "client_id": "gh-client",
        "redirect_uri": f"https://api.example.com{PROVIDERS}/github/callback",
        "scope": "read:user user:email",
        "code_challenge_method": "S256",
    }
    assert f"Path={API}/auth/providers/github/callback" in response.headers["set-cookie"]


def test_an_issuer_that_does_not_answer_lands_with_an_error(
    make_client: Callable[..., TestClient],
) -> None:
    app = make_client(
        oidc_issuer_url=f"http://127.0.0.1:{free_port()}", oidc_client_id="o",
        oidc_client_secret="s", frontend_url=FRONTEND,
    )  # fmt: skip
    response = app.get(f"{PROVIDERS}/oidc/authorize", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == (
        f"{FRONTEND}/auth/callback?error=OAUTH_PROVIDER_UNAVAILABLE"
    )
    assert "set-cookie" not in response.headers


# Over HTTP, against the APIs' shapes


def client_of(
    routes: dict[str, Any], seen: list[httpx2.Request] | None = None
) -> AsyncOAuth2Client:
    """An OAuth client whose requests `routes` answers (by path), holding a token."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        if seen is not None:
            seen.append(request)
        if request.url.path not in routes:
            return httpx2.Response(404)
        return httpx2.Response(200, content=json.dumps(routes[request.url.path]))

    return AsyncOAuth2Client(
        client_id="c", token={"access_token": "gh-token", "token_type": "bearer"},
        transport=httpx2.MockTransport(answer),
    )  # fmt: skip


def github(user: Any, emails: Any, seen: list[httpx2.Request] | None = None) -> Identity:
    http = client_of({"/user": user, "/user/emails": emails}, seen)
    return asyncio.run(oauth_providers.github_identity(http))


PRIMARY = {"email": "Me@Example.com", "primary": True, "verified": True, "visibility": "private"}
OTHER = {"email": "other@example.com", "primary": False, "verified": True, "visibility": None}


def test_github_gives_its_user_and_verified_primary_email() -> None:
    seen: list[httpx2.Request] = []
    found = github({"id": 42, "login": "me", "name": None}, [OTHER, PRIMARY], seen)
    assert found == Identity("42", "Me@Example.com", True, "me")
    assert [request.headers["authorization"] for request in seen] == ["Bearer gh-token"] * 2


@pytest.mark.parametrize(
    ("emails", "expected"),
    [
        ([OTHER, {**PRIMARY, "verified": False}], ("Me@Example.com", False)),
        ([OTHER], (None, False)),
        ([], (None, False)),
        ({"message": "Not Found"}, (None, False)),
        ([{"primary": True, "verified": True}], (None, False)),
    ],
)
def test_only_a_verified_primary_github_email_counts(
    emails: Any, expected: tuple[str | None, bool]
) -> None:
    assert oauth_providers.github_primary_email(emails) == expected


@pytest.mark.parametrize("user", [{"login": "no-id"}, {"id": "42"}, {"id": True}, []])
def test_a_github_user_without_a_numeric_id_is_refused(user: Any) -> None:
    with pytest.raises(AppError) as raised:
        github(user, [PRIMARY])
    assert raised.value.code is ErrorCode.OAUTH_EXCHANGE_FAILED


GOOGLE_DISCOVERY = {
    "issuer": GOOGLE_ISSUER,
    "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_endpoint": "https://oauth2.googleapis.com/token",
    "userinfo_endpoint": "https://openidconnect.googleapis.com/v1/userinfo",
    "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
    "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
}


@pytest.fixture
def forget_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oauth_providers, "_kept", {})


@pytest.mark.usefixtures("forget_documents")
def test_google_is_found_by_discovery() -> None:
    google = oauth_providers.configured(settings(**GOOGLE, frontend_url=FRONTEND))["google"]
    http = client_of({"/.well-known/openid-configuration": GOOGLE_DISCOVERY})
    found = asyncio.run(oauth_providers.endpoints(http, google))
    assert found.authorization == GOOGLE_DISCOVERY["authorization_endpoint"]
    assert found.token == GOOGLE_DISCOVERY["token_endpoint"]
    assert found.algorithms == ("RS256",)  # never HS256 nor none


@pytest.mark.usefixtures("forget_documents")
def test_a_discovery_document_of_another_issuer_is_refused() -> None:
    google = oauth_providers.configured(settings(**GOOGLE, frontend_url=FRONTEND))["google"]
    document = {**GOOGLE_DISCOVERY, "issuer": "https://evil.example"}
    http = client_of({"/.well-known/openid-configuration": document})
    with pytest.raises(AppError) as raised:
        asyncio.run(oauth_providers.endpoints(http, google))
    assert raised.value.code is ErrorCode.OAUTH_PROVIDER_UNAVAILABLE
