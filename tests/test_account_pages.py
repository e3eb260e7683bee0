"""The pages mailed links open when FRONTEND_URL is unset: served by the service itself,
with no inline code, no other origin, no Referer and no cache; the links point at them
(at PUBLIC_URL), or at the frontend when FRONTEND_URL is set."""

import logging
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.pages.account import CSP
from app.services.mail import link
from tests.helpers import NEW_PASSWORD, Account, confirm_reset, login_status, request_reset

PAGES = ["/account/reset-password", "/account/verify-email"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_is_served_with_strict_headers(client: TestClient, path: str) -> None:
    response = client.get(f"{path}?token=abc")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP
    assert "'unsafe-inline'" not in CSP
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert 'data-api="/api/v1"' in response.text
    # Everything the page loads comes from this server, and nothing runs inline.
    sources = re.findall(r'(?:src|href)="([^"]*)"', response.text)
    assert sources
    assert all(source.startswith("/account/assets/") for source in sources), sources
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert not re.search(r"\son[a-z]+=", response.text)  # no inline event handlers


@pytest.mark.parametrize(
    ("asset", "kind"),
    [("account.js", "javascript"), ("account.css", "text/css")],
)
def test_the_assets_are_served_from_the_package(client: TestClient, asset: str, kind: str) -> None:
    response = client.get(f"/account/assets/{asset}")
    assert response.status_code == 200
    assert kind in response.headers["content-type"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/account/assets/../account.py", "/account/assets/%2e%2e/account.py", "/account/x"]
)
def test_nothing_else_is_served_there(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_links_point_at_the_pages_at_public_url() -> None:
    settings = Settings(_env_file=None, environment="test", public_url="https://api.example/")
    assert link(settings, "reset", "t") == "https://api.example/account/reset-password?token=t"
    assert link(settings, "verify", "a b") == "https://api.example/account/verify-email?token=a+b"
    default = Settings(_env_file=None, environment="test")
    assert link(default, "reset", "t") == "http://localhost:8000/account/reset-password?token=t"


def test_with_a_frontend_the_links_go_there_and_no_page_is_served(
    make_client: Callable[..., TestClient],
) -> None:
    settings = Settings(_env_file=None, environment="test", frontend_url="https://app.example")
    assert link(settings, "reset", "t") == "https://app.example/reset-password?token=t"
    client = make_client(frontend_url="https://app.example")
    for path in [*PAGES, "/account/assets/account.js"]:
        assert client.get(path).status_code == 404


def test_a_mailed_link_opens_the_page_that_resets_the_password(
    client: TestClient, user: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.services.mail")
    assert request_reset(client, user.email).status_code == 202
    [record] = [r for r in caplog.records if r.name == "app.services.mail"]
    [url] = re.findall(r"http://localhost:8000(/account/reset-password\?token=\S+)", record.message)
    page = client.get(url)
    assert page.status_code == 200
    assert "Choose a new password" in page.text
    # What the page's script posts when the form is sent:
    token = url.split("token=", 1)[1]
    assert confirm_reset(client, token).status_code == 204
    assert login_status(client, user.email, NEW_PASSWORD) == 200
