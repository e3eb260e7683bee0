"""Live updates (`GET /live`): who sees which change, over a real server on SQLite and
PostgreSQL. Events come from the database's change log, so writes made anywhere (here
through the API) reach every stream allowed to see them, and no other."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.core.errors import ErrorCode
from tests.helpers import USER_FIELDS, Account, bearer, error_body, login, poll
from tests.live_streams import Stream, about, live_server

pytestmark = pytest.mark.slow  # starts a server

ITEM_FIELDS = {"id", "title", "description", "ownerId", "createdAt", "updatedAt"}


@pytest.fixture(scope="module")
def base(
    backend_database: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The API of a real server on the suite's database."""
    log = tmp_path_factory.mktemp("live") / "server.log"
    with live_server(backend_database[1], log) as url:
        yield url


@pytest.fixture
def streams(base: str) -> Iterator[Callable[..., Stream]]:
    """Open streams on the server; each is closed after the test."""
    opened: list[Stream] = []

    def open_stream(headers: dict[str, str] | None = None, **options: Any) -> Stream:
        opened.append(Stream(base, headers, **options))
        return opened[-1]

    yield open_stream
    for stream in opened:
        stream.close()


def test_the_owner_and_admins_see_an_item_change_and_no_one_else(
    base: str, streams: Callable[..., Stream], user: Account, other_user: Account, admin: Account
) -> None:
    mine, others, admins = (
        streams(user.headers),
        streams(other_user.headers),
        streams(admin.headers),
    )
    assert (mine.status, others.status, admins.status) == (200, 200, 200)
    item = httpx.post(f"{base}/items", json={"title": "Live"}, headers=user.headers).json()
    [created] = mine.wait_for(about(item["id"], "created"))
    assert created == {"type": "created", "resource": "items", "id": item["id"], "record": item}
    assert mine.events[0]["event"] == "items"
    assert int(mine.events[0]["id"]) > 0

    httpx.patch(f"{base}/items/{item['id']}", json={"title": "Live 2"}, headers=user.headers)
    updated = mine.wait_for(about(item["id"], "updated"))[-1]
    assert updated["record"]["title"] == "Live 2"
    assert set(updated["record"]) == ITEM_FIELDS
    httpx.delete(f"{base}/items/{item['id']}", headers=user.headers)
    assert mine.wait_for(about(item["id"], "deleted"))[-1]["record"] is None
    assert [change["type"] for change in admins.wait_for(about(item["id"], "deleted"))] == [
        "created", "updated", "deleted",
    ]  # fmt: skip
    assert [int(event["id"]) for event in mine.events] == sorted(int(e["id"]) for e in mine.events)

    # The other user's stream got nothing before their own item's event.
    own = httpx.post(f"{base}/items", json={"title": "Mine"}, headers=other_user.headers).json()
    assert [change["id"] for change in others.wait_for(about(own["id"], "created"))] == [own["id"]]


def test_admins_see_user_changes_without_secrets_and_users_do_not(
    base: str, streams: Callable[..., Stream], user: Account, admin: Account
) -> None:
    mine, admins = streams(user.headers), streams(admin.headers)
    body = {"email": "new@example.com", "password": "a long password"}
    created = httpx.post(f"{base}/users", json=body, headers=admin.headers).json()
    [change] = admins.wait_for(about(created["id"], "created"))
    assert admins.events[0]["event"] == "users"
    assert set(change["record"]) == USER_FIELDS  # never the password hash
    httpx.delete(f"{base}/users/{created['id']}", headers=admin.headers)
    admins.wait_for(about(created["id"], "deleted"))

    item = httpx.post(f"{base}/items", json={"title": "After"}, headers=user.headers).json()
    assert [change["id"] for change in mine.wait_for(about(item["id"], "created"))] == [item["id"]]


def test_a_stream_resumes_after_the_last_event_id(
    base: str, streams: Callable[..., Stream], user: Account
) -> None:
    first = streams(user.headers)
    one = httpx.post(f"{base}/items", json={"title": "One"}, headers=user.headers).json()
    first.wait_for(about(one["id"], "created"))
    first.close()
    two = httpx.post(f"{base}/items", json={"title": "Two"}, headers=user.headers).json()

    resumed = streams({**user.headers, "Last-Event-ID": first.events[-1]["id"]})
    assert [change["id"] for change in resumed.wait_for(about(two["id"], "created"))] == [two["id"]]


@pytest.mark.parametrize("last_event_id", ["999999999", "not-an-id"])
def test_an_unknown_last_event_id_asks_for_a_resync(
    streams: Callable[..., Stream], user: Account, last_event_id: str
) -> None:
    stream = streams({**user.headers, "Last-Event-ID": last_event_id})
    assert stream.status == 200
    assert poll(lambda: bool(stream.events))
    assert stream.events[0] == {"event": "resync", "data": "{}"}


def test_who_may_open_a_stream(base: str, streams: Callable[..., Stream], user: Account) -> None:
    assert streams().status == 401
    assert streams(bearer("not-a-token")).status == 401
    tokens = f"{base}/users/me/tokens"
    for scopes, status in ((["write"], 403), (["read"], 200)):
        made = httpx.post(tokens, json={"name": "t", "scopes": scopes}, headers=user.headers)
        stream = streams(bearer(made.json()["token"]))
        assert stream.status == status
        if status == 403:
            assert stream.body == error_body(ErrorCode.API_TOKEN_SCOPE)
        stream.close()


def test_a_browser_signed_in_with_cookies_streams(
    base: str, streams: Callable[..., Stream], user: Account
) -> None:
    cookies = httpx.post(
        f"{base}/auth/login", json={"email": user.email, "password": user.password},
        headers={"X-Auth-Mode": "cookie"},
    ).cookies  # fmt: skip
    stream = streams(cookies=cookies)
    assert stream.status == 200
    item = httpx.post(f"{base}/items", json={"title": "Cookie"}, headers=user.headers).json()
    stream.wait_for(about(item["id"], "created"))


def test_idle_streams_get_heartbeats_and_end_when_signed_out(
    base: str, client: TestClient, streams: Callable[..., Stream], user: Account
) -> None:
    session = login(client, user.email)["accessToken"]
    stream = streams(bearer(session))
    assert poll(lambda: stream.heartbeats >= 2)
    assert httpx.post(f"{base}/auth/logout", headers=bearer(session)).status_code == 204
    assert stream.ended.wait(60), "the stream outlived its session"
