"""The API docs pages: Swagger UI and ReDoc work offline, ask nothing of another site,
and Swagger UI's Authorize asks for what the API uses (an email and a password)."""

import base64
import re

import pytest
from fastapi.testclient import TestClient

from app.core.docs import ASSETS, REDOC_JS
from tests.helpers import API, Account, bearer

# What makes a browser fetch from another origin as it loads a page or runs its
# scripts: an element's source, a stylesheet's url() or @import, a form's action.
FETCHED_ELSEWHERE = re.compile(
    rb"""(?:\b(?:src|srcset|poster|action)\s*[:=]\s*["']|(?<![\w.$])url\(\s*["']?|@import\s+["']?)"""
    rb"""(?:https?:)?//"""
)


def referenced(html: str) -> list[str]:
    """The URLs a docs page loads: its links, scripts and the document it shows."""
    urls = re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""", html)
    return urls + re.findall(r"""url\s*:\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_and_their_assets_fetch_nothing_from_another_site(
    client: TestClient, page: str
) -> None:
    html = client.get(API + page).text
    urls = referenced(html)

    assert len(urls) >= 3, html  # the script, the favicon, the document at least
    assert "http://" not in html
    assert "https://" not in html
    for url in urls:
        assert url.startswith(f"{API}/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
        assert FETCHED_ELSEWHERE.search(asset.content) is None, url


def test_redoc_is_served_without_its_cdn_logo(client: TestClient) -> None:
    packaged = (ASSETS / REDOC_JS).read_bytes()
    served = client.get(f"{API}/docs/assets/{REDOC_JS}")

    assert FETCHED_ELSEWHERE.findall(packaged) == [b'src:"https://']  # what the check finds
    assert b"cdn.redoc.ly" not in served.content
    assert b"API docs by Redocly" in served.content  # the rest of the script is there
    assert abs(len(served.content) - len(packaged)) < 100
    assert served.headers["content-type"].startswith("text/javascript")


def test_redocs_script_is_cached_like_the_other_assets(client: TestClient) -> None:
    url = f"{API}/docs/assets/{REDOC_JS}"
    etag = client.get(url).headers["etag"]

    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    head = client.head(url)
    assert head.status_code == 200
    assert head.headers["etag"] == etag
    for asset in (url, f"{API}/docs/assets/swagger-ui.css"):
        refused = client.post(asset)
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, HEAD"


def test_swagger_ui_hides_the_client_fields_the_api_does_not_use(client: TestClient) -> None:
    html = client.get(f"{API}/docs").text
    bundle = (ASSETS / "swagger-ui-bundle.js").read_text()
    hidden = set(re.findall(r'\.wrapper:has\(> label\[for="([^"]+)"\]\)', html))

    assert hidden == {"client_id_password", "client_secret_password", "password_type"}
    # The labels Swagger UI renders for the password flow's rows, by these ids
    assert 'htmlFor:"password_type"},"Client credentials location:"' in bundle
    for field in ("client_id", "client_secret"):
        assert f"htmlFor:`{field}_${{" in bundle
    assert 'htmlFor:"oauth_username"},"username:"' in bundle  # shown
    assert '"validatorUrl": null' in html  # no badge fetched from validator.swagger.io
    assert '"persistAuthorization": true' in html


def test_the_sign_in_scheme_says_username_is_the_email(client: TestClient) -> None:
    schemes = client.get(f"{API}/openapi.json").json()["components"]["securitySchemes"]

    session = schemes["session"]
    assert session["type"] == "oauth2"
    assert set(session["flows"]) == {"password"}
    assert session["flows"]["password"]["scopes"] == {}
    assert "**username** is your email" in session["description"]


def test_what_swagger_ui_sends_signs_in(client: TestClient, user: Account) -> None:
    # With its client rows hidden, Swagger UI sends the form and an empty client as
    # HTTP Basic credentials (its default "Authorization header" location).
    empty_client = base64.b64encode(b":").decode()
    response = client.post(
        f"{API}/auth/token",
        data={
            "grant_type": "password",
            "username": user.email,
            "password": user.password,
            "scope": "",
        },
        headers={"Authorization": f"Basic {empty_client}"},
    )

    assert response.status_code == 200, response.text
    me = client.get(f"{API}/users/me", headers=bearer(response.json()["access_token"]))
    assert me.json()["email"] == user.email
