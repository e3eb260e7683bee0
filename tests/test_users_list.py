"""Listing users (`GET /users`, for admins): the page, search, filters, sort, limits."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session

from app.models import User
from tests.helpers import USER_FIELDS, USERS, Account, assert_pages_in_total_order, ids_of


def list_users(client: TestClient, admin: Account, **params: Any) -> Response:
    return client.get(USERS, params=params, headers=admin.headers)


def emails_of(response: Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["email"] for entry in response.json()["items"]]


@pytest.fixture
def population(
    admin: Account, user: Account, other_user: Account, inactive_user: Account
) -> dict[str, Account]:
    """Four accounts: an admin, two active users, an inactive user."""
    return {"admin": admin, "user": user, "other": other_user, "inactive": inactive_user}


def test_list_users_page(
    client: TestClient, admin: Account, population: dict[str, Account]
) -> None:
    response = list_users(client, admin)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "total", "offset", "limit"}
    assert (body["total"], body["offset"], body["limit"]) == (4, 0, 50)
    assert response.headers["X-Total-Count"] == "4"
    assert {entry["email"] for entry in body["items"]} == {
        account.email for account in population.values()
    }
    for entry in body["items"]:
        assert set(entry) == USER_FIELDS


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ADMIN", {"admin@example.com"}),
        ("uSeR", {"user@example.com"}),
        (
            "EXAMPLE.com",
            {"admin@example.com", "user@example.com", "other@example.com", "inactive@example.com"},
        ),
        ("othe", {"other@example.com"}),
        ("nobody-has-this", set()),
    ],
)
def test_list_users_search_by_email_or_name(
    client: TestClient,
    admin: Account,
    population: dict[str, Account],
    q: str,
    expected: set[str],
) -> None:
    response = list_users(client, admin, q=q)

    assert set(emails_of(response)) == expected
    assert response.json()["total"] == len(expected)
    assert response.headers["X-Total-Count"] == str(len(expected))


def test_list_users_search_matches_name(
    client: TestClient, admin: Account, make_account: Callable[..., Account]
) -> None:
    make_account("zed@example.com", name="Quux Person")

    assert emails_of(list_users(client, admin, q="qUUX pers")) == ["zed@example.com"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("%", {"percent@example.com"}),
        ("0%", {"percent@example.com"}),
        ("_", {"underscore@example.com"}),
        ("r_s", {"underscore@example.com"}),
        ("%_%", set()),
    ],
)
def test_list_users_search_takes_wildcards_literally(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    q: str,
    expected: set[str],
) -> None:
    make_account("percent@example.com", name="100% sure")
    make_account("underscore@example.com", name="under_score")
    make_account("lookalike@example.com", name="underXscore 1000")

    response = list_users(client, admin, q=q)

    assert set(emails_of(response)) == expected
    assert response.json()["total"] == len(expected)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"role": "ADMIN"}, {"admin"}),
        ({"role": "USER"}, {"user", "other", "inactive"}),
        ({"isActive": "true"}, {"admin", "user", "other"}),
        ({"isActive": "false"}, {"inactive"}),
        ({"role": "USER", "isActive": "true"}, {"user", "other"}),
        ({"role": "ADMIN", "isActive": "false"}, set()),
    ],
)
def test_list_users_filters(
    client: TestClient,
    admin: Account,
    population: dict[str, Account],
    params: dict[str, str],
    expected: set[str],
) -> None:
    response = list_users(client, admin, **params)

    assert set(emails_of(response)) == {population[key].email for key in expected}
    assert response.json()["total"] == len(expected)
    assert response.headers["X-Total-Count"] == str(len(expected))


@pytest.mark.parametrize(
    "params",
    [
        {"role": "admin"},
        {"role": "SUPERUSER"},
        {"role": ""},
        {"isActive": "maybe"},
        {"isActive": "2"},
        {"sort": "password"},
        {"sort": "passwordHash"},
        {"sort": "created_at"},
        {"sort": "--email"},
        {"sort": "role"},
        {"sort": ""},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"offset": "-1"},
        {"offset": "first"},
    ],
)
def test_list_users_bad_query_is_422(
    client: TestClient, admin: Account, params: dict[str, str]
) -> None:
    response = list_users(client, admin, **params)

    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


@pytest.mark.parametrize(
    "params", [{"foo": "bar"}, {"is_active": "false"}, {"page": "7", "per_page": "1"}]
)
def test_list_users_ignores_unknown_query_parameters(
    client: TestClient, admin: Account, population: dict[str, Account], params: dict[str, str]
) -> None:
    response = list_users(client, admin, **params)

    assert response.status_code == 200, response.text
    assert response.json()["total"] == 4
    assert len(response.json()["items"]) == 4


@pytest.mark.parametrize(
    ("param", "value", "returned"),
    [
        ("limit", 1, 1),
        ("limit", 3, 3),
        ("limit", 4, 4),
        ("limit", 100, 4),
        ("offset", 0, 4),
        ("offset", 3, 1),
        ("offset", 4, 0),
        ("offset", 1000, 0),
    ],
)
def test_list_users_limit_and_offset_edges(
    client: TestClient,
    admin: Account,
    population: dict[str, Account],
    param: str,
    value: int,
    returned: int,
) -> None:
    response = list_users(client, admin, **{param: value})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (len(body["items"]), body["total"], body[param]) == (returned, 4, value)
    assert response.headers["X-Total-Count"] == "4"


@pytest.fixture
def sortable(
    client: TestClient, admin: Account, make_account: Callable[..., Account]
) -> dict[str, Account]:
    """Three accounts created in the order c, a, b (by email); names order b, c, a;
    then `sortc` is changed, so by last update the order is a, b, c."""
    accounts = {
        "c": make_account("sortc@example.com", name="Bravo"),
        "a": make_account("sorta@example.com", name="Charlie"),
        "b": make_account("sortb@example.com", name="Alpha"),
    }
    touched = client.patch(
        f"{USERS}/{accounts['c'].id}", json={"isActive": True}, headers=admin.headers
    )
    assert touched.status_code == 200, touched.text
    return accounts


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("email", "abc"),
        ("-email", "cba"),
        ("name", "bca"),
        ("-name", "acb"),
        ("createdAt", "cab"),
        ("-createdAt", "bac"),
        ("updatedAt", "abc"),
        ("-updatedAt", "cba"),
    ],
)
def test_list_users_sort(
    client: TestClient,
    admin: Account,
    sortable: dict[str, Account],
    sort: str,
    order: str,
) -> None:
    response = list_users(client, admin, q="sort", sort=sort)

    assert emails_of(response) == [f"sort{key}@example.com" for key in order]


@pytest.mark.parametrize("field", ["createdAt", "updatedAt"])
def test_list_users_pages_are_deterministic_on_ties(
    client: TestClient, admin: Account, db: Session, field: str
) -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    ids = set()
    for number in range(7):
        row = User(
            email=f"tie{number}@example.com",
            password_hash="not-a-real-hash",
            created_at=moment,
            updated_at=moment,
        )
        db.add(row)
        ids.add(str(row.id))
    db.commit()

    def page(sort: str, offset: int) -> list[str]:
        response = list_users(client, admin, q="tie", sort=sort, offset=offset, limit=3)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 7
        return ids_of(response)

    assert_pages_in_total_order(page, field, ids, limit=3)


def test_list_users_requires_admin(client: TestClient, user: Account) -> None:
    response = list_users(client, user)

    assert response.status_code == 403, response.text
