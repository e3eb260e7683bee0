"""Accounts: the caller's own (`/users/me`) and admin user management (`/users`)."""

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, col, update

from app import accounts
from app.errors import ErrorCode
from app.models import AuthSession, Item, Role, User
from tests.helpers import (
    API,
    ME,
    NEW_PASSWORD,
    PASSWORD,
    USER_FIELDS,
    USERS,
    Account,
    active_admins,
    assert_unauthorized,
    bearer,
    count_rows,
    create_item,
    error_body,
    fresh,
    login,
    login_status,
    race,
    refresh_status,
    stored,
    timestamp,
)


def list_users(client: TestClient, admin: Account, **params: Any) -> Response:
    return client.get(USERS, params=params, headers=admin.headers)


def emails_of(response: Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["email"] for entry in response.json()["items"]]


# GET /users/me


def test_read_me(client: TestClient, user: Account) -> None:
    response = client.get(ME, headers=user.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["id"] == str(user.id)
    assert body["email"] == "user@example.com"
    assert body["name"] == "User"
    assert body["role"] == "USER"
    assert body["isActive"] is True
    assert timestamp(body["createdAt"]) <= timestamp(body["updatedAt"])


def test_read_me_without_token(client: TestClient) -> None:
    assert_unauthorized(client.get(ME))


# PATCH /users/me


def test_update_me_changes_name_and_lower_cases_email(
    client: TestClient, user: Account, db: Session
) -> None:
    before = client.get(ME, headers=user.headers).json()

    response = client.patch(
        ME, json={"name": "Renamed", "email": "New.Address@Example.COM"}, headers=user.headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["email"] == "new.address@example.com"
    assert body["name"] == "Renamed"
    assert body["createdAt"] == before["createdAt"]
    assert timestamp(body["updatedAt"]) > timestamp(before["updatedAt"])
    row = stored(db, User, user.id)
    assert row is not None
    assert (row.email, row.name) == ("new.address@example.com", "Renamed")
    assert client.get(ME, headers=user.headers).json() == body
    assert login_status(client, "NEW.address@example.com") == 200


def test_update_me_partial_keeps_other_fields(client: TestClient, user: Account) -> None:
    response = client.patch(ME, json={"name": "Only the name"}, headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "user@example.com"
    assert response.json()["name"] == "Only the name"


@pytest.mark.parametrize("email", ["other@example.com", "OTHER@Example.Com"])
def test_update_me_email_taken_is_conflict(
    client: TestClient, user: Account, other_user: Account, db: Session, email: str
) -> None:
    response = client.patch(ME, json={"email": email}, headers=user.headers)

    assert response.status_code == 409, response.text
    assert response.json() == error_body(ErrorCode.EMAIL_ALREADY_REGISTERED)
    row = stored(db, User, user.id)
    assert row is not None
    assert row.email == "user@example.com"


def test_update_me_own_email_in_other_case_is_no_conflict(
    client: TestClient, user: Account
) -> None:
    response = client.patch(ME, json={"email": "USER@example.com"}, headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "user@example.com"


@pytest.mark.parametrize("body", [{"email": None}, {"email": "not-an-email"}, {"email": ""}])
def test_update_me_invalid_email_is_422(
    client: TestClient, user: Account, db: Session, body: dict[str, Any]
) -> None:
    response = client.patch(ME, json=body, headers=user.headers)

    assert response.status_code == 422, response.text
    row = stored(db, User, user.id)
    assert row is not None
    assert row.email == "user@example.com"


def test_update_me_null_name_clears_it(client: TestClient, user: Account, db: Session) -> None:
    response = client.patch(ME, json={"name": None}, headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.json()["name"] is None
    row = stored(db, User, user.id)
    assert row is not None
    assert row.name is None


def test_update_me_cannot_change_role_or_status(
    client: TestClient, user: Account, db: Session
) -> None:
    response = client.patch(
        ME, json={"role": "ADMIN", "isActive": False, "is_active": False}, headers=user.headers
    )

    assert response.status_code in (200, 422), response.text
    row = stored(db, User, user.id)
    assert row is not None
    assert (row.role, row.is_active) == (Role.USER, True)
    assert client.get(ME, headers=user.headers).status_code == 200


# DELETE /users/me


def test_delete_me_removes_account_items_and_sessions(
    client: TestClient, user: Account, other_user: Account, db: Session
) -> None:
    create_item(client, user, "mine 1")
    create_item(client, user, "mine 2")
    kept_item = create_item(client, other_user, "theirs")["id"]
    login(client, user.email)  # a second session
    assert count_rows(db, AuthSession, col(AuthSession.user_id) == user.id) == 2

    response = client.delete(ME, headers=user.headers)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert stored(db, User, user.id) is None
    assert count_rows(db, Item, col(Item.owner_id) == user.id) == 0
    assert count_rows(db, AuthSession, col(AuthSession.user_id) == user.id) == 0
    assert count_rows(db, Item, col(Item.id) == uuid.UUID(kept_item)) == 1
    assert count_rows(db, User, col(User.id) == other_user.id) == 1
    assert_unauthorized(client.get(ME, headers=user.headers))
    assert refresh_status(client, user.refresh_token) == 401
    assert login_status(client, user.email) == 401


def test_delete_me_last_active_admin_is_conflict(
    client: TestClient, admin: Account, make_account: Callable[..., Account], db: Session
) -> None:
    make_account("sleeping-admin@example.com", role=Role.ADMIN, is_active=False)

    response = client.delete(ME, headers=admin.headers)

    assert response.status_code == 409, response.text
    assert stored(db, User, admin.id) is not None
    assert client.get(ME, headers=admin.headers).status_code == 200


def test_delete_me_admin_when_another_active_admin_exists(
    client: TestClient, admin: Account, make_account: Callable[..., Account], db: Session
) -> None:
    make_account("second-admin@example.com", role=Role.ADMIN)

    response = client.delete(ME, headers=admin.headers)

    assert response.status_code == 204, response.text
    assert stored(db, User, admin.id) is None
    assert active_admins(db) == 1


# GET /users


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


@pytest.mark.parametrize(("limit", "returned"), [(1, 1), (3, 3), (4, 4), (100, 4)])
def test_list_users_limit_edges(
    client: TestClient,
    admin: Account,
    population: dict[str, Account],
    limit: int,
    returned: int,
) -> None:
    response = list_users(client, admin, limit=limit)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (len(body["items"]), body["total"], body["limit"]) == (returned, 4, limit)
    assert response.headers["X-Total-Count"] == "4"


@pytest.mark.parametrize(("offset", "returned"), [(0, 4), (3, 1), (4, 0), (1000, 0)])
def test_list_users_offset_edges(
    client: TestClient,
    admin: Account,
    population: dict[str, Account],
    offset: int,
    returned: int,
) -> None:
    response = list_users(client, admin, offset=offset)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (len(body["items"]), body["total"], body["offset"]) == (returned, 4, offset)
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
        return [entry["id"] for entry in response.json()["items"]]

    orders = {}
    for sort in (field, f"-{field}"):
        pages = [page(sort, 0), page(sort, 3), page(sort, 6)]
        seen = [user_id for chunk in pages for user_id in chunk]
        assert [len(chunk) for chunk in pages] == [3, 3, 1], sort
        assert len(seen) == len(set(seen)) == 7, sort
        assert set(seen) == ids, sort
        assert [page(sort, 0), page(sort, 3), page(sort, 6)] == pages, sort
        orders[sort] = seen
    # The order is total (a tie-breaker decides), so descending is ascending reversed.
    assert orders[f"-{field}"] == orders[field][::-1]


def test_list_users_requires_admin(client: TestClient, user: Account) -> None:
    response = list_users(client, user)

    assert response.status_code == 403, response.text


# POST /users


def test_create_user_honours_role_and_status(
    client: TestClient, admin: Account, db: Session
) -> None:
    response = client.post(
        USERS,
        json={
            "email": "Created@Example.COM",
            "password": NEW_PASSWORD,
            "name": "Created",
            "role": "ADMIN",
            "isActive": False,
        },
        headers=admin.headers,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["email"] == "created@example.com"
    assert (body["name"], body["role"], body["isActive"]) == ("Created", "ADMIN", False)
    row = stored(db, User, body["id"])
    assert row is not None
    assert (row.email, row.role, row.is_active) == (
        "created@example.com",
        Role.ADMIN,
        False,
    )
    assert row.password_hash != NEW_PASSWORD
    assert login_status(client, "created@example.com", NEW_PASSWORD) == 403


def test_create_user_defaults_and_login(client: TestClient, admin: Account) -> None:
    response = client.post(
        USERS, json={"email": "plain@example.com", "password": NEW_PASSWORD}, headers=admin.headers
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["role"], body["isActive"]) == (None, "USER", True)
    assert login_status(client, "plain@example.com", NEW_PASSWORD) == 200


def test_create_user_accepts_snake_case_body(client: TestClient, admin: Account) -> None:
    response = client.post(
        USERS,
        json={"email": "snake@example.com", "password": NEW_PASSWORD, "is_active": False},
        headers=admin.headers,
    )

    assert response.status_code == 201, response.text
    assert response.json()["isActive"] is False


@pytest.mark.parametrize("email", ["user@example.com", "USER@Example.com"])
def test_create_user_email_taken_is_conflict(
    client: TestClient, admin: Account, user: Account, email: str
) -> None:
    response = client.post(
        USERS, json={"email": email, "password": NEW_PASSWORD}, headers=admin.headers
    )

    assert response.status_code == 409, response.text
    assert response.json() == error_body(ErrorCode.EMAIL_ALREADY_REGISTERED)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "short@example.com", "password": "seven77"},
        {"email": "long@example.com", "password": "é" * 37},  # 74 bytes in UTF-8
        {"email": "nopass@example.com"},
        {"password": NEW_PASSWORD},
        {"email": "bad-role@example.com", "password": NEW_PASSWORD, "role": "ROOT"},
        {"email": "not-an-email", "password": NEW_PASSWORD},
    ],
)
def test_create_user_invalid_body_is_422(
    client: TestClient, admin: Account, db: Session, body: dict[str, Any]
) -> None:
    response = client.post(USERS, json=body, headers=admin.headers)

    assert response.status_code == 422, response.text
    assert count_rows(db, User) == 1


def test_create_user_password_of_72_bytes_is_accepted(client: TestClient, admin: Account) -> None:
    password = "é" * 36  # 72 bytes in UTF-8
    response = client.post(
        USERS, json={"email": "edge@example.com", "password": password}, headers=admin.headers
    )

    assert response.status_code == 201, response.text
    assert login_status(client, "edge@example.com", password) == 200


# GET /users/{id}


def test_read_user(client: TestClient, admin: Account, user: Account) -> None:
    response = client.get(f"{USERS}/{user.id}", headers=admin.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert (body["id"], body["email"], body["name"]) == (str(user.id), user.email, "User")


def test_read_unknown_user_is_404(client: TestClient, admin: Account) -> None:
    response = client.get(f"{USERS}/{uuid.uuid4()}", headers=admin.headers)

    assert response.status_code == 404, response.text
    assert response.json() == error_body(ErrorCode.USER_NOT_FOUND)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "me2"])
def test_user_path_id_must_be_a_uuid(
    client: TestClient, admin: Account, method: str, bad_id: str
) -> None:
    body = {"name": "x"} if method == "PATCH" else None
    response = client.request(method, f"{USERS}/{bad_id}", json=body, headers=admin.headers)

    assert response.status_code == 422, response.text


# PATCH /users/{id}


def test_update_user_every_field(
    client: TestClient, admin: Account, user: Account, db: Session
) -> None:
    before = client.get(f"{USERS}/{user.id}", headers=admin.headers).json()

    response = client.patch(
        f"{USERS}/{user.id}",
        json={
            "email": "Promoted@Example.com",
            "name": "Promoted",
            "role": "ADMIN",
            "isActive": True,
        },
        headers=admin.headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert (body["email"], body["name"], body["role"], body["isActive"]) == (
        "promoted@example.com",
        "Promoted",
        "ADMIN",
        True,
    )
    assert timestamp(body["updatedAt"]) > timestamp(before["updatedAt"])
    row = stored(db, User, user.id)
    assert row is not None
    assert (row.email, row.role) == ("promoted@example.com", Role.ADMIN)
    assert client.get(USERS, headers=user.headers).status_code == 200


def test_update_user_name_null_clears_it(client: TestClient, admin: Account, user: Account) -> None:
    response = client.patch(f"{USERS}/{user.id}", json={"name": None}, headers=admin.headers)

    assert response.status_code == 200, response.text
    assert response.json()["name"] is None
    assert response.json()["email"] == user.email


def test_update_user_password_revokes_sessions_and_allows_login(
    client: TestClient, admin: Account, user: Account, db: Session
) -> None:
    second = login(client, user.email)

    response = client.patch(
        f"{USERS}/{user.id}", json={"password": NEW_PASSWORD}, headers=admin.headers
    )

    assert response.status_code == 200, response.text
    assert "password" not in response.text.lower()
    live = count_rows(
        db,
        AuthSession,
        col(AuthSession.user_id) == user.id,
        col(AuthSession.revoked_at).is_(None),
    )
    assert live == 0
    assert_unauthorized(client.get(ME, headers=user.headers))
    assert_unauthorized(client.get(ME, headers=bearer(second["accessToken"])))
    assert refresh_status(client, user.refresh_token) == 401
    assert refresh_status(client, second["refreshToken"]) == 401
    assert login_status(client, user.email, PASSWORD) == 401
    tokens = login(client, user.email, NEW_PASSWORD)
    assert client.get(ME, headers=bearer(tokens["accessToken"])).status_code == 200


def test_update_user_deactivation_revokes_sessions_at_once(
    client: TestClient, admin: Account, user: Account, db: Session
) -> None:
    untouched = login(client, user.email)  # a session nobody uses while inactive
    assert client.get(ME, headers=user.headers).status_code == 200

    response = client.patch(f"{USERS}/{user.id}", json={"isActive": False}, headers=admin.headers)

    assert response.status_code == 200, response.text
    assert response.json()["isActive"] is False
    live = count_rows(
        db,
        AuthSession,
        col(AuthSession.user_id) == user.id,
        col(AuthSession.revoked_at).is_(None),
    )
    assert live == 0
    assert_unauthorized(client.get(ME, headers=user.headers))
    assert refresh_status(client, user.refresh_token) == 401
    assert login_status(client, user.email) == 403

    reactivated = client.patch(f"{USERS}/{user.id}", json={"isActive": True}, headers=admin.headers)
    assert reactivated.status_code == 200, reactivated.text
    # The sessions ended when the account was deactivated; reactivating revives none.
    assert_unauthorized(client.get(ME, headers=bearer(untouched["accessToken"])))
    assert refresh_status(client, untouched["refreshToken"]) == 401
    tokens = login(client, user.email)
    assert client.get(ME, headers=bearer(tokens["accessToken"])).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"email": None},
        {"role": None},
        {"isActive": None},
        {"password": None},
        {"password": "short"},
        {"password": "é" * 37},
        {"role": "OWNER"},
        {"isActive": "sometimes"},
        {"email": "not-an-email"},
    ],
)
def test_update_user_invalid_body_is_422(
    client: TestClient, admin: Account, user: Account, db: Session, body: dict[str, Any]
) -> None:
    response = client.patch(f"{USERS}/{user.id}", json=body, headers=admin.headers)

    assert response.status_code == 422, response.text
    row = stored(db, User, user.id)
    assert row is not None
    assert (row.email, row.role, row.is_active) == (user.email, Role.USER, True)


@pytest.mark.parametrize("email", ["other@example.com", "Other@EXAMPLE.com"])
def test_update_user_email_taken_is_conflict(
    client: TestClient, admin: Account, user: Account, other_user: Account, email: str
) -> None:
    response = client.patch(f"{USERS}/{user.id}", json={"email": email}, headers=admin.headers)

    assert response.status_code == 409, response.text
    assert response.json() == error_body(ErrorCode.EMAIL_ALREADY_REGISTERED)


def test_update_unknown_user_is_404(client: TestClient, admin: Account) -> None:
    response = client.patch(f"{USERS}/{uuid.uuid4()}", json={"name": "x"}, headers=admin.headers)

    assert response.status_code == 404, response.text


@pytest.mark.parametrize("change", [{"role": "USER"}, {"isActive": False}])
def test_last_active_admin_cannot_be_demoted_or_deactivated(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    db: Session,
    change: dict[str, Any],
) -> None:
    make_account("sleeping-admin@example.com", role=Role.ADMIN, is_active=False)

    response = client.patch(f"{USERS}/{admin.id}", json=change, headers=admin.headers)

    assert response.status_code == 409, response.text
    assert response.json()["detail"]
    row = stored(db, User, admin.id)
    assert row is not None
    assert (row.role, row.is_active) == (Role.ADMIN, True)
    assert active_admins(db) == 1
    assert client.get(USERS, headers=admin.headers).status_code == 200


@pytest.mark.parametrize(
    "change",
    [{"name": "Still the admin"}, {"role": "ADMIN", "isActive": True}, {"email": "boss@x.io"}],
)
def test_last_active_admin_may_change_other_fields(
    client: TestClient, admin: Account, db: Session, change: dict[str, Any]
) -> None:
    response = client.patch(f"{USERS}/{admin.id}", json=change, headers=admin.headers)

    assert response.status_code == 200, response.text
    assert (response.json()["role"], response.json()["isActive"]) == ("ADMIN", True)
    assert active_admins(db) == 1


@pytest.mark.parametrize("change", [{"role": "USER"}, {"isActive": False}])
@pytest.mark.parametrize("target", ["self", "peer"])
def test_admin_may_be_demoted_or_deactivated_when_another_remains(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    db: Session,
    change: dict[str, Any],
    target: str,
) -> None:
    peer = make_account("peer-admin@example.com", role=Role.ADMIN)
    victim = admin if target == "self" else peer

    response = client.patch(f"{USERS}/{victim.id}", json=change, headers=admin.headers)

    assert response.status_code == 200, response.text
    assert active_admins(db) == 1
    survivor = peer if target == "self" else admin
    assert client.get(USERS, headers=survivor.headers).status_code == 200
    victim_status = client.get(USERS, headers=victim.headers).status_code
    assert victim_status == (403 if "role" in change else 401)


# DELETE /users/{id}


def test_delete_user_cascades_items_and_sessions(
    client: TestClient, admin: Account, user: Account, other_user: Account, db: Session
) -> None:
    create_item(client, user, "first")
    create_item(client, user, "second")
    kept = create_item(client, other_user, "kept")["id"]
    login(client, user.email)

    response = client.delete(f"{USERS}/{user.id}", headers=admin.headers)

    assert response.status_code == 204, response.text
    assert stored(db, User, user.id) is None
    assert count_rows(db, Item, col(Item.owner_id) == user.id) == 0
    assert count_rows(db, AuthSession, col(AuthSession.user_id) == user.id) == 0
    assert count_rows(db, Item, col(Item.id) == uuid.UUID(kept)) == 1
    assert client.get(f"{USERS}/{user.id}", headers=admin.headers).status_code == 404
    assert_unauthorized(client.get(ME, headers=user.headers))
    assert refresh_status(client, user.refresh_token) == 401


def test_delete_last_active_admin_is_conflict(
    client: TestClient, admin: Account, make_account: Callable[..., Account], db: Session
) -> None:
    make_account("sleeping-admin@example.com", role=Role.ADMIN, is_active=False)

    response = client.delete(f"{USERS}/{admin.id}", headers=admin.headers)

    assert response.status_code == 409, response.text
    assert stored(db, User, admin.id) is not None
    assert client.get(ME, headers=admin.headers).status_code == 200


def test_delete_admin_when_another_active_admin_exists(
    client: TestClient, admin: Account, make_account: Callable[..., Account], db: Session
) -> None:
    peer = make_account("peer-admin@example.com", role=Role.ADMIN)

    response = client.delete(f"{USERS}/{peer.id}", headers=admin.headers)

    assert response.status_code == 204, response.text
    assert stored(db, User, peer.id) is None
    assert active_admins(db) == 1


def test_delete_inactive_admin_beside_the_last_active_one(
    client: TestClient, admin: Account, make_account: Callable[..., Account], db: Session
) -> None:
    sleeping = make_account("sleeping-admin@example.com", role=Role.ADMIN, is_active=False)

    response = client.delete(f"{USERS}/{sleeping.id}", headers=admin.headers)

    assert response.status_code == 204, response.text
    assert stored(db, User, sleeping.id) is None


def test_delete_unknown_user_is_404(client: TestClient, admin: Account) -> None:
    response = client.delete(f"{USERS}/{uuid.uuid4()}", headers=admin.headers)

    assert response.status_code == 404, response.text


# Concurrency: two admins changing each other at once must leave an active admin.

ATTEMPTS = 5


@pytest.fixture
def fresh_admin_pair(
    db: Session, make_account: Callable[..., Account]
) -> Callable[[], tuple[Account, Account]]:
    """Make exactly two active admins (every earlier admin is demoted first)."""

    def make() -> tuple[Account, Account]:
        fresh(db).exec(update(User).values(role=Role.USER))
        db.commit()
        pair = make_account(role=Role.ADMIN), make_account(role=Role.ADMIN)
        assert active_admins(db) == 2
        return pair

    return make


@pytest.mark.parametrize(
    ("method", "change"),
    [("PATCH", {"role": "USER"}), ("PATCH", {"isActive": False}), ("DELETE", None)],
)
def test_admins_changing_each_other_concurrently_keep_an_active_admin(
    client: TestClient,
    db: Session,
    fresh_admin_pair: Callable[[], tuple[Account, Account]],
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    change: dict[str, Any] | None,
) -> None:
    # Both requests are authorized before either takes the admins' lock: each demotes,
    # deactivates or deletes the other, and only one of them may win.
    both_authorized = threading.Barrier(2, timeout=30)
    lock_active_admins = accounts._lock_active_admins

    def wait_then_lock(db: Session) -> None:
        both_authorized.wait()
        lock_active_admins(db)

    monkeypatch.setattr(accounts, "_lock_active_admins", wait_then_lock)
    success = 204 if method == "DELETE" else 200
    for _ in range(ATTEMPTS):
        both_authorized.reset()
        first, second = fresh_admin_pair()
        statuses = race(
            client,
            [
                (method, f"{USERS}/{second.id}", first, change),
                (method, f"{USERS}/{first.id}", second, change),
            ],
        )
        assert sorted(statuses) == [success, 409]
        assert active_admins(db) == 1


# OpenAPI: no response can show a password


def _referenced_schemas(node: Any, components: dict[str, Any], seen: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                _referenced_schemas(components[name], components, seen)
        for value in node.values():
            _referenced_schemas(value, components, seen)
    elif isinstance(node, list):
        for value in node:
            _referenced_schemas(value, components, seen)


def _property_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            yield from properties
        for value in node.values():
            yield from _property_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _property_names(value)


def test_openapi_responses_never_contain_a_password(client: TestClient) -> None:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200, response.text
    spec = response.json()
    components = spec["components"]["schemas"]

    response_nodes = [
        operation["responses"]
        for path_item in spec["paths"].values()
        for operation in path_item.values()
        if isinstance(operation, dict) and "responses" in operation
    ]
    seen: set[str] = set()
    _referenced_schemas(response_nodes, components, seen)

    assert {"UserPublic", "ItemPublic", "TokenPair"} <= seen  # the walk reaches them
    offending = {
        name
        for name in seen
        if any("password" in prop.lower() for prop in _property_names(components[name]))
    }
    assert offending == set()
    for name in seen - {"ErrorCode"}:  # codes such as CURRENT_PASSWORD_WRONG are no data
        assert "password" not in str(components[name]).lower(), name
    # The request side does carry passwords, so the search would find one there.
    assert "password" in components["UserCreate"]["properties"]
