"""What tests share besides fixtures: the API prefix, accounts, signing in."""

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from app.models import Role

API = "/api/v1"
PASSWORD = "correct horse battery"


@dataclass
class Account:
    """A user in the database, signed in once through the API (unless inactive)."""

    id: uuid.UUID
    email: str
    password: str
    role: Role
    access_token: str = ""
    refresh_token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def bearer(token: str) -> dict[str, str]:
    """An Authorization header carrying `token`."""
    return {"Authorization": f"Bearer {token}"}


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Sign in through the API and return the token pair (asserting success)."""
    response = client.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
