"""Items: create, list (own or, for admins, all), read, change and delete by id."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, col

from app.core.errors import ErrorCode
from app.models.items import Item
from app.models.users import Role
from tests.helpers import (
    API,
    PAGE_FIELDS,
    Account,
    assert_pages_in_total_order,
    count_rows,
    entries,
    error_body,
    ids_of,
    login,
    stored,
    timestamp,
)

ITEMS = f"{API}/items"
PUBLIC_FIELDS = {"id", "title", "description", "ownerId", "createdAt", "updatedAt"}


def create_item(
    client: TestClient, account: Account, title: str = "Example", **extra: Any
) -> dict[str, Any]:
    """Create an item as `account` through the API; returns its body (asserting 201)."""
    response = client.post(ITEMS, json={"title": title, **extra}, headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def listing(client: TestClient, account: Account, **params: Any) -> Response:
    return client.get(ITEMS, params=params, headers=account.headers)


def titles_of(response: Response) -> list[str]:
    return [entry["title"] for entry in entries(response)]


# POST /items


def test_create_item(client: TestClient, user: Account, db: Session) -> None:
    response = client.post(
        ITEMS, json={"title": "Groceries", "description": "milk, eggs"}, headers=user.headers
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert (body["title"], body["description"]) == ("Groceries", "milk, eggs")
    assert body["ownerId"] == str(user.id)
    uuid.UUID(body["id"])
    assert timestamp(body["createdAt"]) <= timestamp(body["updatedAt"])
    row = stored(db, Item, body["id"])
    assert row is not None
    assert (row.title, row.description, row.owner_id) == (
        "Groceries",
        "milk, eggs",
        user.id,
    )


@pytest.mark.parametrize("extra", [{}, {"description": None}])
def test_create_item_description_is_optional_and_nullable(
    client: TestClient, user: Account, extra: dict[str, Any]
) -> None:
    body = create_item(client, user, "No description", **extra)

    assert body["description"] is None


def test_create_item_owner_cannot_be_chosen(
    client: TestClient, user: Account, other_user: Account
) -> None:
    body = create_item(
        client, user, "Mine", ownerId=str(other_user.id), owner_id=str(other_user.id)
    )

    assert body["ownerId"] == str(user.id)


def test_create_item_title_of_255_chars_is_accepted(client: TestClient, user: Account) -> None:
    assert create_item(client, user, "x" * 255)["title"] == "x" * 255


INVALID_TITLES = [
    pytest.param({"title": ""}, id="empty"),
    pytest.param({"title": "   "}, id="blank-spaces"),
    pytest.param({"title": "\t\n"}, id="blank-tab-newline"),
    pytest.param({"title": "x" * 256}, id="too-long"),
    pytest.param({"title": None}, id="null"),
    pytest.param({"title": 42}, id="number"),
    pytest.param({"title": ["a list"]}, id="list"),
]


@pytest.mark.parametrize(
    "body",
    [
        *INVALID_TITLES,
        pytest.param({}, id="missing"),
        pytest.param({"description": "no title"}, id="only-description"),
    ],
)
def test_create_item_invalid_title_is_422(
    client: TestClient, user: Account, db: Session, body: dict[str, Any]
) -> None:
    response = client.post(ITEMS, json=body, headers=user.headers)

    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert count_rows(db, Item) == 0


# GET /items: visibility


@pytest.fixture
def three_items(
    client: TestClient, user: Account, other_user: Account
) -> dict[str, dict[str, Any]]:
    """Two items of `user`, one of `other_user`."""
    return {
        "first": create_item(client, user, "first of user"),
        "second": create_item(client, user, "second of user"),
        "theirs": create_item(client, other_user, "of other user"),
    }


def test_list_items_shows_only_own_items(
    client: TestClient,
    user: Account,
    other_user: Account,
    three_items: dict[str, dict[str, Any]],
) -> None:
    response = listing(client, user)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PAGE_FIELDS
    assert (body["total"], body["offset"], body["limit"]) == (2, 0, 50)
    assert response.headers["X-Total-Count"] == "2"
    assert set(ids_of(response)) == {three_items["first"]["id"], three_items["second"]["id"]}
    for entry in entries(response):
        assert set(entry) == PUBLIC_FIELDS
        assert entry["ownerId"] == str(user.id)

    theirs = listing(client, other_user)
    assert ids_of(theirs) == [three_items["theirs"]["id"]]
    assert theirs.headers["X-Total-Count"] == "1"


def test_list_items_admin_sees_all_and_filters_by_owner(
    client: TestClient,
    admin: Account,
    user: Account,
    other_user: Account,
    three_items: dict[str, dict[str, Any]],
) -> None:
    everything = listing(client, admin)
    assert everything.status_code == 200, everything.text
    assert everything.json()["total"] == 3
    assert set(ids_of(everything)) == {item["id"] for item in three_items.values()}

    of_user = listing(client, admin, ownerId=str(user.id))
    assert set(ids_of(of_user)) == {three_items["first"]["id"], three_items["second"]["id"]}
    assert of_user.json()["total"] == 2
    assert of_user.headers["X-Total-Count"] == "2"

    of_other = listing(client, admin, ownerId=str(other_user.id))
    assert ids_of(of_other) == [three_items["theirs"]["id"]]

    of_nobody = listing(client, admin, ownerId=str(uuid.uuid4()))
    assert (entries(of_nobody), of_nobody.json()["total"]) == ([], 0)


def test_list_items_owner_filter_of_another_user_gives_an_empty_page(
    client: TestClient,
    user: Account,
    other_user: Account,
    three_items: dict[str, dict[str, Any]],
) -> None:
    response = listing(client, user, ownerId=str(other_user.id))

    assert response.status_code == 200, response.text
    assert (entries(response), response.json()["total"]) == ([], 0)
    assert response.headers["X-Total-Count"] == "0"

    own = listing(client, user, ownerId=str(user.id))
    assert own.json()["total"] == 2


@pytest.mark.parametrize(
    "params",
    [
        {"ownerId": "not-a-uuid"},
        {"ownerId": "123"},
        {"sort": "owner"},
        {"sort": "description"},
        {"sort": "created_at"},
        {"sort": "email"},
        {"sort": "-"},
        {"sort": "+title"},
        {"sort": ""},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "-5"},
        {"offset": "-1"},
        {"offset": "1.5"},
    ],
)
def test_list_items_bad_query_is_422(
    client: TestClient, user: Account, params: dict[str, str]
) -> None:
    response = listing(client, user, **params)

    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


@pytest.mark.parametrize("params", [{"color": "red"}, {"owner_id": "not-even-a-uuid"}])
def test_list_items_ignores_unknown_query_parameters(
    client: TestClient,
    user: Account,
    three_items: dict[str, dict[str, Any]],
    params: dict[str, str],
) -> None:
    response = listing(client, user, **params)

    assert response.status_code == 200, response.text
    assert response.json()["total"] == 2


# GET /items: search, sort, pages


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("MILK", {"Buy Milk", "milk shake"}),
        ("milk s", {"milk shake"}),
        ("%", {"100% juice"}),
        ("0%", {"100% juice"}),
        ("_", {"snake_case"}),
        ("e_c", {"snake_case"}),
        ("%_%", set()),
        ("eggs", set()),  # only in a description, and `q` searches titles
        ("nothing like it", set()),
    ],
)
def test_list_items_search_titles(
    client: TestClient,
    user: Account,
    other_user: Account,
    q: str,
    expected: set[str],
) -> None:
    for title in ("Buy Milk", "milk shake", "100% juice", "snake_case", "snakeXcase 1000"):
        create_item(client, user, title)
    create_item(client, user, "Bread", description="eggs and milk")
    create_item(client, other_user, "Milk of another user")

    response = listing(client, user, q=q)

    assert set(titles_of(response)) == expected
    assert response.json()["total"] == len(expected)
    assert response.headers["X-Total-Count"] == str(len(expected))


def test_list_items_search_for_admin_covers_every_owner(
    client: TestClient, admin: Account, user: Account, other_user: Account
) -> None:
    create_item(client, user, "Milk")
    create_item(client, other_user, "more MILK")
    create_item(client, other_user, "Bread")

    assert set(titles_of(listing(client, admin, q="milk"))) == {"Milk", "more MILK"}
    assert titles_of(listing(client, admin, q="milk", ownerId=str(user.id))) == ["Milk"]


@pytest.fixture
def sortable(client: TestClient, user: Account) -> None:
    """Titles bravo, alpha, charlie created in that order, then bravo changed."""
    bravo = create_item(client, user, "bravo")
    create_item(client, user, "alpha")
    create_item(client, user, "charlie")
    touched = client.patch(
        f"{ITEMS}/{bravo['id']}", json={"description": "touched"}, headers=user.headers
    )
    assert touched.status_code == 200, touched.text


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("title", ["alpha", "bravo", "charlie"]),
        ("-title", ["charlie", "bravo", "alpha"]),
        ("createdAt", ["bravo", "alpha", "charlie"]),
        ("-createdAt", ["charlie", "alpha", "bravo"]),
        ("updatedAt", ["alpha", "charlie", "bravo"]),
        ("-updatedAt", ["bravo", "charlie", "alpha"]),
    ],
)
def test_list_items_sort(
    client: TestClient, user: Account, sortable: None, sort: str, order: list[str]
) -> None:
    assert titles_of(listing(client, user, sort=sort)) == order


@pytest.mark.parametrize(
    ("offset", "limit", "expected"),
    [
        (0, 1, ["alpha"]),
        (0, 2, ["alpha", "bravo"]),
        (2, 2, ["charlie"]),
        (1, 100, ["bravo", "charlie"]),
        (3, 1, []),
        (500, 50, []),
    ],
)
def test_list_items_pages(
    client: TestClient,
    user: Account,
    sortable: None,
    offset: int,
    limit: int,
    expected: list[str],
) -> None:
    response = listing(client, user, sort="title", offset=offset, limit=limit)

    assert titles_of(response) == expected
    body = response.json()
    assert (body["total"], body["offset"], body["limit"]) == (3, offset, limit)
    assert response.headers["X-Total-Count"] == "3"


@pytest.mark.parametrize("field", ["createdAt", "updatedAt", "title"])
def test_list_items_pages_are_deterministic_on_ties(
    client: TestClient, user: Account, db: Session, field: str
) -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    ids = set()
    for _ in range(5):
        item = Item(title="same", owner_id=user.id, created_at=moment, updated_at=moment)
        db.add(item)
        ids.add(str(item.id))
    db.commit()

    def page(sort: str, offset: int) -> list[str]:
        response = listing(client, user, sort=sort, offset=offset, limit=2)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 5
        return ids_of(response)

    assert_pages_in_total_order(page, field, ids, limit=2)


# GET / PATCH / DELETE /items/{id}


def test_owner_reads_item(client: TestClient, user: Account) -> None:
    item = create_item(client, user, "Readable", description="text")

    response = client.get(f"{ITEMS}/{item['id']}", headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.json() == item


def test_owner_updates_item(client: TestClient, user: Account, db: Session) -> None:
    item = create_item(client, user, "Before", description="old")

    response = client.patch(
        f"{ITEMS}/{item['id']}",
        json={"title": "After", "description": "new"},
        headers=user.headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PUBLIC_FIELDS
    assert (body["id"], body["title"], body["description"]) == (item["id"], "After", "new")
    assert body["ownerId"] == str(user.id)
    assert body["createdAt"] == item["createdAt"]
    assert timestamp(body["updatedAt"]) > timestamp(item["updatedAt"])
    row = stored(db, Item, item["id"])
    assert row is not None
    assert (row.title, row.description) == ("After", "new")
    assert client.get(f"{ITEMS}/{item['id']}", headers=user.headers).json() == body


def test_partial_update_keeps_other_fields(client: TestClient, user: Account) -> None:
    item = create_item(client, user, "Title stays", description="old")

    only_description = client.patch(
        f"{ITEMS}/{item['id']}", json={"description": "new"}, headers=user.headers
    )
    assert only_description.status_code == 200, only_description.text
    assert (only_description.json()["title"], only_description.json()["description"]) == (
        "Title stays",
        "new",
    )

    only_title = client.patch(f"{ITEMS}/{item['id']}", json={"title": "T"}, headers=user.headers)
    assert only_title.status_code == 200, only_title.text
    assert (only_title.json()["title"], only_title.json()["description"]) == ("T", "new")


def test_update_cannot_change_the_owner(
    client: TestClient, user: Account, other_user: Account, db: Session
) -> None:
    item = create_item(client, user, "Mine")

    response = client.patch(
        f"{ITEMS}/{item['id']}",
        json={"title": "Still mine", "ownerId": str(other_user.id), "owner_id": str(other_user.id)},
        headers=user.headers,
    )

    assert response.status_code in (200, 422), response.text
    row = stored(db, Item, item["id"])
    assert row is not None
    assert row.owner_id == user.id
    assert listing(client, other_user).json()["total"] == 0


def test_null_description_clears_it(client: TestClient, user: Account, db: Session) -> None:
    item = create_item(client, user, "Clear me", description="something")

    response = client.patch(
        f"{ITEMS}/{item['id']}", json={"description": None}, headers=user.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["description"] is None
    assert response.json()["title"] == "Clear me"
    row = stored(db, Item, item["id"])
    assert row is not None
    assert row.description is None


@pytest.mark.parametrize("body", INVALID_TITLES)
def test_update_item_invalid_title_is_422(
    client: TestClient, user: Account, db: Session, body: dict[str, Any]
) -> None:
    item = create_item(client, user, "Keep me")

    response = client.patch(f"{ITEMS}/{item['id']}", json=body, headers=user.headers)

    assert response.status_code == 422, response.text
    row = stored(db, Item, item["id"])
    assert row is not None
    assert row.title == "Keep me"


def test_owner_deletes_item(client: TestClient, user: Account, db: Session) -> None:
    item = create_item(client, user, "Doomed")
    kept = create_item(client, user, "Kept")

    response = client.delete(f"{ITEMS}/{item['id']}", headers=user.headers)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert stored(db, Item, item["id"]) is None
    assert stored(db, Item, kept["id"]) is not None
    assert client.get(f"{ITEMS}/{item['id']}", headers=user.headers).status_code == 404
    assert client.delete(f"{ITEMS}/{item['id']}", headers=user.headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"title": "Taken over"}), ("DELETE", None)],
)
def test_another_users_item_is_404(
    client: TestClient,
    user: Account,
    other_user: Account,
    db: Session,
    method: str,
    body: dict[str, Any] | None,
) -> None:
    item = create_item(client, user, "Private", description="secret")
    unknown = client.request(
        method, f"{ITEMS}/{uuid.uuid4()}", json=body, headers=other_user.headers
    )

    response = client.request(
        method, f"{ITEMS}/{item['id']}", json=body, headers=other_user.headers
    )

    assert response.status_code == 404, response.text
    assert response.json() == unknown.json() == error_body(ErrorCode.ITEM_NOT_FOUND)
    row = stored(db, Item, item["id"])
    assert row is not None
    assert (row.title, row.description, row.owner_id) == ("Private", "secret", user.id)


def test_admin_reads_changes_and_deletes_any_item(
    client: TestClient, admin: Account, user: Account, db: Session
) -> None:
    item = create_item(client, user, "User's", description="theirs")
    url = f"{ITEMS}/{item['id']}"

    read = client.get(url, headers=admin.headers)
    assert read.status_code == 200, read.text
    assert read.json() == item

    changed = client.patch(url, json={"title": "Moderated"}, headers=admin.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["title"] == "Moderated"
    assert changed.json()["ownerId"] == str(user.id)
    assert client.get(url, headers=user.headers).json()["title"] == "Moderated"

    deleted = client.delete(url, headers=admin.headers)
    assert deleted.status_code == 204, deleted.text
    assert stored(db, Item, item["id"]) is None


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"title": "x"}), ("DELETE", None)],
)
@pytest.mark.parametrize("who", ["user", "admin"])
def test_unknown_item_is_404(
    client: TestClient,
    user: Account,
    admin: Account,
    method: str,
    body: dict[str, Any] | None,
    who: str,
) -> None:
    caller = user if who == "user" else admin

    response = client.request(method, f"{ITEMS}/{uuid.uuid4()}", json=body, headers=caller.headers)

    assert response.status_code == 404, response.text
    assert response.json() == error_body(ErrorCode.ITEM_NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"title": "x"}), ("DELETE", None)],
)
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "42", "00000000-0000-0000-0000-00000000000g"])
def test_item_path_id_must_be_a_uuid(
    client: TestClient, user: Account, method: str, body: dict[str, Any] | None, bad_id: str
) -> None:
    response = client.request(method, f"{ITEMS}/{bad_id}", json=body, headers=user.headers)

    assert response.status_code == 422, response.text


# Items go with their owner


def test_deleting_a_user_deletes_their_items(
    client: TestClient, admin: Account, user: Account, other_user: Account, db: Session
) -> None:
    mine = [create_item(client, user, f"item {number}")["id"] for number in range(3)]
    theirs = create_item(client, other_user, "survives")["id"]
    own_admin_item = create_item(client, admin, "admin's")["id"]

    response = client.delete(f"{API}/users/{user.id}", headers=admin.headers)

    assert response.status_code == 204, response.text
    assert count_rows(db, Item, col(Item.owner_id) == user.id) == 0
    for item_id in mine:
        assert stored(db, Item, item_id) is None
        assert client.get(f"{ITEMS}/{item_id}", headers=admin.headers).status_code == 404
    assert stored(db, Item, theirs) is not None
    assert stored(db, Item, own_admin_item) is not None
    remaining = listing(client, admin)
    assert set(ids_of(remaining)) == {theirs, own_admin_item}
    assert remaining.headers["X-Total-Count"] == "2"
    assert listing(client, admin, ownerId=str(user.id)).json()["total"] == 0


def test_item_of_a_demoted_admin_is_still_theirs(
    client: TestClient, admin: Account, make_account: Callable[..., Account]
) -> None:
    """Visibility follows the caller's current role, read on every request."""
    peer = make_account("peer-admin@example.com", role=Role.ADMIN)
    item = create_item(client, admin, "Admin's own")
    assert client.get(f"{ITEMS}/{item['id']}", headers=peer.headers).status_code == 200

    demoted = client.patch(f"{API}/users/{peer.id}", json={"role": "USER"}, headers=admin.headers)
    assert demoted.status_code == 200, demoted.text

    assert client.get(f"{ITEMS}/{item['id']}", headers=peer.headers).status_code == 401
    peer.access_token = login(client, peer.email)["accessToken"]  # signed out by demotion
    assert client.get(f"{ITEMS}/{item['id']}", headers=peer.headers).status_code == 404
    assert listing(client, peer).json()["total"] == 0
