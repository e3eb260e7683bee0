"""Signed tokens: one instant per token, one purpose per token."""

from datetime import datetime, timedelta
from itertools import count

import jwt
import pytest
from fastapi.testclient import TestClient

from app import tokens
from app.fields import utcnow
from tests.helpers import API, PASSWORD, Account


@pytest.fixture
def ticking_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read of the clock is 0.6 s later than the one before, so a token built
    from two reads would cross a second boundary."""
    start, ticks = utcnow(), count()

    def now() -> datetime:
        return start + timedelta(seconds=0.6 * next(ticks))

    monkeypatch.setattr(tokens, "utcnow", now)
    monkeypatch.setattr("app.sessions.utcnow", now)


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
