"""Client addresses behind a reverse proxy: only what a trusted proxy adds is believed."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from tests.helpers import API, PASSWORD, Account, bearer

WRONG = "wrong password"


def client_from(make_client: Callable[..., TestClient], peer: str, **settings: Any) -> TestClient:
    """A client whose connections come from `peer` (as a proxy in front of the app)."""
    client = make_client(**settings)
    client._transport.client = (peer, 40000)  # type: ignore[attr-defined]  # no public setter
    return client


def recorded_address(client: TestClient, account: Account, headers: dict[str, str]) -> str:
    """The address a new session of `account` records when signing in with `headers`."""
    response = client.post(
        f"{API}/auth/login",
        json={"email": account.email, "password": PASSWORD},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    token = response.json()["accessToken"]
    sessions = client.get(f"{API}/auth/sessions", headers=bearer(token)).json()
    [current] = [session for session in sessions if session["current"]]
    address: str = current["ipAddress"]
    return address


@pytest.mark.parametrize(
    ("allowed", "forwarded_for", "expected"),
    [
        # the proxy's own address: the client is the entry the proxy appended
        ("10.0.0.1", "198.51.100.7", "198.51.100.7"),
        ("10.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"),
        # two proxies in a trusted network: skip both, take the first outsider
        ("10.0.0.0/8", "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
        # any proxy (*): one hop, the right-most entry, never the client's own claim
        ("*", "6.6.6.6, 198.51.100.7", "198.51.100.7"),
        ("*", "[2001:db8::1]:443", "2001:db8::1"),
        # made-up values end the walk: the last real address stands
        ("10.0.0.1", "A" * 400, "10.0.0.1"),
        ("10.0.0.1", "198.51.100.7, not-an-address", "10.0.0.1"),
    ],
)
def test_the_client_is_the_address_the_trusted_proxy_saw(
    make_client: Callable[..., TestClient],
    user: Account,
    allowed: str,
    forwarded_for: str,
    expected: str,
) -> None:
    proxied = client_from(make_client, "10.0.0.1", forwarded_allow_ips=allowed)
    assert recorded_address(proxied, user, {"X-Forwarded-For": forwarded_for}) == expected


def test_headers_from_an_untrusted_peer_are_ignored(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    direct = client_from(make_client, "203.0.113.9", forwarded_allow_ips="10.0.0.1")
    headers = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    assert recorded_address(direct, user, headers) == "203.0.113.9"


def test_a_rotating_made_up_entry_does_not_escape_the_address_limit(
    make_client: Callable[..., TestClient],
) -> None:
    # One real client behind a proxy that appends its address, writing a new fake
    # X-Forwarded-For entry on each guess: all guesses count against the real address.
    proxied = client_from(
        make_client, "10.0.0.1", forwarded_allow_ips="*", login_max_failures_per_ip=5
    )
    statuses = []
    for number in range(8):
        headers = {"X-Forwarded-For": f"192.0.2.{number}, 198.51.100.7"}
        body = {"email": f"someone{number}@example.com", "password": WRONG}
        statuses.append(proxied.post(f"{API}/auth/login", json=body, headers=headers).status_code)
    assert statuses == [401] * 5 + [429] * 3


def test_the_forwarded_scheme_is_believed_from_a_trusted_proxy(
    make_client: Callable[..., TestClient],
) -> None:
    proxied = client_from(make_client, "10.0.0.1", forwarded_allow_ips="10.0.0.1")
    direct = client_from(make_client, "203.0.113.9", forwarded_allow_ips="10.0.0.1")

    @proxied.app.get("/scheme")  # type: ignore[attr-defined,untyped-decorator]
    async def scheme_of_proxied(request: Request) -> str:
        return request.url.scheme

    @direct.app.get("/scheme")  # type: ignore[attr-defined,untyped-decorator]
    async def scheme_of_direct(request: Request) -> str:
        return request.url.scheme

    headers = {"X-Forwarded-Proto": "https"}
    assert proxied.get("/scheme", headers=headers).json() == "https"
    assert direct.get("/scheme", headers=headers).json() == "http"
