"""Guessing and flooding: budgets that hold whatever the client sends, and under bursts.

At most LOGIN_MAX_FAILURES_PER_EMAIL wrong passwords are ever checked per account and
window (LOGIN_MAX_FAILURES_PER_IP per client address), also when the guesses arrive
all at once on two instances of the service; the rest are 429, and a client address
that is no address at all can neither break the count nor mint fresh budgets.
"""

import functools
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import LoginThrottle
from tests.helpers import API, PASSWORD, Account, at_once

pytestmark = pytest.mark.slow  # bursts of concurrent requests

WRONG = "wrong password"


def sign_in(client: TestClient, email: str, password: str) -> int:
    body = {"email": email, "password": password}
    return client.post(f"{API}/auth/login", json=body).status_code


def counted(db: Session, key: str) -> int | None:
    db.commit()
    value = db.exec(select(LoginThrottle.failures).where(LoginThrottle.key == key)).first()
    db.commit()
    return value


@pytest.mark.parametrize("address", ["A" * 400, "not an address", "", "203.0.113.7" * 40])
def test_a_client_address_of_any_shape_is_throttled(
    make_client: Callable[..., TestClient], user: Account, address: str
) -> None:
    client = make_client()
    client._transport.client = (address, 1)  # type: ignore[attr-defined]
    statuses = [sign_in(client, user.email, WRONG) for _ in range(20)]
    assert statuses == [401] * 5 + [429] * 15
    assert sign_in(client, user.email, PASSWORD) == 429


@pytest.mark.parametrize(("guesses", "rounds"), [(20, 8), (100, 4)])
def test_a_burst_of_guesses_on_two_instances_checks_at_most_the_limit(
    make_client: Callable[..., TestClient], user: Account, db: Session, guesses: int, rounds: int
) -> None:
    instances = [make_client(bcrypt_rounds=rounds), make_client(bcrypt_rounds=rounds)]
    passwords = [WRONG] * (guesses - 1) + [PASSWORD]
    sends = [
        functools.partial(sign_in, instances[number % 2], user.email, password)
        for number, password in enumerate(passwords)
    ]

    statuses = at_once(sends)

    assert set(statuses) <= {200, 401, 429}, statuses
    assert statuses.count(401) <= 5, statuses
    assert statuses.count(401) + statuses.count(429) >= guesses - 1
    assert (counted(db, f"email:{user.email}") or 0) <= 5


def test_a_burst_from_one_address_checks_at_most_its_limit(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(bcrypt_rounds=8, login_max_failures_per_ip=5)
    sends: list[Callable[[], Any]] = [
        functools.partial(sign_in, client, f"someone{number}@example.com", WRONG)
        for number in range(20)
    ]
    statuses = at_once(sends)
    assert sorted(statuses) == [401] * 5 + [429] * 15


def test_many_right_passwords_at_once_are_all_served(
    make_client: Callable[..., TestClient], user: Account, db: Session
) -> None:
    # Checks in flight hold the budget only until their outcome is known: right
    # passwords wait their turn instead of being refused for being many.
    instances = [make_client(bcrypt_rounds=8), make_client(bcrypt_rounds=8)]
    sends = [
        functools.partial(sign_in, instances[number % 2], user.email, PASSWORD)
        for number in range(16)
    ]
    assert at_once(sends) == [200] * 16
    assert counted(db, f"email:{user.email}") is None  # nothing left counted
