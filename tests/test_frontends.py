"""What frontends and admin panels rely on: CORS in development, fetching rows by id, and
a true `Allow` on 405 (the docs pages: tests/test_docs.py)."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.helpers import API, Account

LOCAL = ["http://localhost:3000", "http://localhost:5173", "http://127.0.0.1:3000"]


def preflight(client: TestClient, origin: str) -> int:
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    response = client.options(f"{API}/auth/login", headers=headers)
    allowed = response.headers.get("access-control-allow-origin")
    return response.status_code if allowed == origin else 0


@pytest.mark.parametrize("origin", LOCAL)
def test_development_allows_the_local_frontend_origins(
    make_client: Callable[..., TestClient], origin: str
) -> None:
    assert preflight(make_client(environment="development"), origin) == 200


def test_the_usual_origins_are_for_development_only(
    make_client: Callable[..., TestClient],
) -> None:
    production = make_client(environment="production", jwt_secret_key="p" * 48)
    assert preflight(production, "http://localhost:3000") == 0
    assert preflight(make_client(environment="development"), "http://evil.example") == 0


def test_explicit_origins_replace_the_local_ones(make_client: Callable[..., TestClient]) -> None:
    client = make_client(environment="development", cors_origins="https://admin.example.com")
    assert preflight(client, "https://admin.example.com") == 200
    assert preflight(client, "http://localhost:3000") == 0


def test_browsers_may_read_the_total_and_request_id(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    client = make_client(environment="development")
    response = client.get(
        f"{API}/items", headers={**user.headers, "Origin": "http://localhost:5173"}
    )
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "x-total-count" in exposed
    assert "x-request-id" in exposed


def test_a_list_returns_just_the_ids_asked_for(client: TestClient, user: Account) -> None:
    ids = [
        client.post(f"{API}/items", json={"title": f"item {n}"}, headers=user.headers).json()["id"]
        for n in range(4)
    ]
    response = client.get(f"{API}/items", params={"id": ids[1:3]}, headers=user.headers)
    assert response.status_code == 200, response.text
    assert sorted(item["id"] for item in response.json()["items"]) == sorted(ids[1:3])
    assert response.headers["X-Total-Count"] == "2"
    assert client.get(f"{API}/items?id=nope", headers=user.headers).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/items/00000000-0000-0000-0000-000000000001", "DELETE, GET, PATCH"),
        ("OPTIONS", "/items", "GET, POST"),
        ("POST", "/users/me", "DELETE, GET, PATCH"),
        ("TRACE", "/auth/login", "POST"),
    ],
)
def test_405_lists_every_method_of_the_path(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, API + path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
