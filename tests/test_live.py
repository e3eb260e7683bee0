"""Live updates (`GET /live`) over a real server on SQLite and PostgreSQL: who sees
which change (events come from the database's change log, so writes made anywhere
reach every stream allowed to see them, and no other), and the bounds: streams per
user, a client that falls behind or does not read at all, streams that end with their
client."""

import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.core.errors import ErrorCode
from app.models import Role
from tests.helpers import USER_FIELDS, Account, bearer, error_body, login, poll
from tests.live_streams import INSERT_ITEM, Stream, about, live_server, settled

pytestmark = pytest.mark.slow  # starts a server

MAX_STREAMS = 2  # LIVE_MAX_STREAMS_PER_USER in tests.live_streams
QUEUE_SIZE = 5  # LIVE_QUEUE_SIZE there
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
    assert len({event["id"] for event in mine.events}) == len(mine.events)  # each change once

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
    base: str, engine: Engine, streams: Callable[..., Stream], user: Account
) -> None:
    first = streams(user.headers)
    one = httpx.post(f"{base}/items", json={"title": "One"}, headers=user.headers).json()
    first.wait_for(about(one["id"], "created"))
    first.close()
    two = httpx.post(f"{base}/items", json={"title": "Two"}, headers=user.headers).json()

    resumed = reopen(streams, {**user.headers, "Last-Event-ID": first.events[-1]["id"]})
    assert [change["id"] for change in resumed.wait_for(about(two["id"], "created"))] == [two["id"]]

    # More changes since than a stream may queue: resync first, then live again.
    last = resumed.events[-1]["id"]
    resumed.close()
    import_items(base, user, QUEUE_SIZE * 2)
    settled(engine)  # else they may come after the resync, too many: a second one ends it
    again = reopen(streams, {**user.headers, "Last-Event-ID": last})
    assert poll(lambda: bool(again.events))
    assert again.events[0] == {"event": "resync", "data": "{}"}
    three = httpx.post(f"{base}/items", json={"title": "Three"}, headers=user.headers).json()
    again.wait_for(about(three["id"], "created"))


def test_a_stream_resumes_after_a_change_committed_before_an_older_one(
    backend: str, base: str, engine: Engine, streams: Callable[..., Stream], user: Account
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite writes one transaction at a time")
    stream = streams(user.headers)
    with engine.connect() as older:  # an item written in a transaction that commits last
        first = str(uuid.uuid4())
        older.execute(INSERT_ITEM, {"id": first, "owner_id": user.id})
        second = httpx.post(f"{base}/items", json={"title": "Two"}, headers=user.headers)
        older.commit()
    changes = stream.wait_for(about(second.json()["id"], "created"))
    assert [change["id"] for change in changes] == [first, second.json()["id"]]
    after_first = stream.events[0]["id"]
    assert int(after_first) > int(stream.events[1]["id"])  # ids do not follow the order
    stream.close()

    resumed = reopen(streams, {**user.headers, "Last-Event-ID": after_first})
    changes = resumed.wait_for(about(second.json()["id"], "created"))
    assert [change["id"] for change in changes] == [second.json()["id"]]


def reopen(streams: Callable[..., Stream], headers: dict[str, str]) -> Stream:
    """A new stream once the server has let go of closed ones (it notices a closed
    stream when writing to it), not refused for the streams per user."""
    opened: list[Stream] = []

    def accepted() -> bool:
        opened.append(streams(headers))
        return opened[-1].status != 429

    assert poll(accepted)
    return opened[-1]


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


def import_items(base: str, account: Account, count: int) -> None:
    rows = "title\n" + "".join(f"Imported {n}\n" for n in range(count))
    files = {"file": ("items.csv", rows.encode(), "text/csv")}
    response = httpx.post(f"{base}/items/import", files=files, headers=account.headers)
    assert response.status_code == 201, response.text


def opens(streams: Callable[..., Stream], account: Account) -> bool:
    """Whether a new stream of `account` is accepted (it is closed again at once)."""
    stream = streams(account.headers)
    stream.close()
    return stream.status == 200


def test_too_many_streams_get_429_and_a_closed_stream_frees_its_place(
    streams: Callable[..., Stream], user: Account, other_user: Account
) -> None:
    allowed = [streams(user.headers) for _ in range(MAX_STREAMS)]
    assert [stream.status for stream in allowed] == [200] * MAX_STREAMS
    refused = streams(user.headers)
    assert refused.status == 429
    assert refused.body == error_body(ErrorCode.LIVE_TOO_MANY_STREAMS)
    assert streams(other_user.headers).status == 200  # the limit is each user's

    allowed[0].close()
    assert poll(lambda: opens(streams, user)), "a closed stream kept its place"


def test_a_stream_that_falls_behind_is_told_to_resync_and_ends(
    base: str, streams: Callable[..., Stream], user: Account
) -> None:
    stream = streams(user.headers)
    import_items(base, user, QUEUE_SIZE * 2)  # one transaction: more events than the queue
    assert stream.ended.wait(60)
    assert stream.events[-1] == {"event": "resync", "data": "{}"}
    assert len(stream.events) <= QUEUE_SIZE + 1


def test_a_client_that_does_not_read_is_dropped(
    base: str, streams: Callable[..., Stream], user: Account
) -> None:
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port), timeout=60) as stuck:
        request = (
            f"GET {address.path}/live HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: {user.headers['Authorization']}\r\n\r\n"
        )
        stuck.sendall(request.encode())
        assert stuck.recv(12) == b"HTTP/1.1 200"  # then it reads nothing more
        assert streams(user.headers).status == 200
        assert streams(user.headers).status == 429

        import_items(base, user, QUEUE_SIZE * 2)
        # Both were dropped for falling behind: their places are free again,
        # while the stuck client still holds its connection.
        assert poll(lambda: streams(user.headers).status == 200)
        assert poll(lambda: streams(user.headers).status == 200)


def test_a_demoted_admin_stops_hearing_of_others_rows(
    base: str,
    streams: Callable[..., Stream],
    make_account: Callable[..., Account],
    admin: Account,
    user: Account,
) -> None:
    demoted = make_account(role=Role.ADMIN)
    tokens = f"{base}/users/me/tokens"
    made = httpx.post(tokens, json={"name": "t", "scopes": ["read"]}, headers=demoted.headers)
    stream = streams(bearer(made.json()["token"]))  # a read token outlives a demotion
    before = httpx.post(f"{base}/items", json={"title": "Seen"}, headers=user.headers).json()
    stream.wait_for(about(before["id"], "created"))

    change = {"role": "USER"}
    assert httpx.patch(f"{base}/users/{demoted.id}", json=change, headers=admin.headers).is_success
    beats = stream.heartbeats
    assert poll(lambda: stream.heartbeats >= beats + 2)  # the sign-in was checked again
    after = httpx.post(f"{base}/items", json={"title": "Unseen"}, headers=user.headers).json()
    # Their own item, made with a new sign-in (the demotion ended their sessions).
    signed_in = {"email": demoted.email, "password": demoted.password}
    token = httpx.post(f"{base}/auth/login", json=signed_in).json()["accessToken"]
    mine = httpx.post(f"{base}/items", json={"title": "Own"}, headers=bearer(token))
    changes = stream.wait_for(about(mine.json()["id"], "created"))
    assert after["id"] not in {change["id"] for change in changes}


def test_a_stream_ends_after_its_lifetime_and_resumes_without_loss(
    backend_database: tuple[str, str], engine: Engine, tmp_path: Path, user: Account
) -> None:
    log = tmp_path / "server.log"
    with live_server(backend_database[1], log, LIVE_MAX_STREAM_SECONDS="2") as short_lived:
        items = f"{short_lived}/items"
        assert httpx.post(items, json={"title": "Logged"}, headers=user.headers).is_success
        settled(engine)  # so it is not news to the stream
        stream = Stream(short_lived, user.headers)  # no event comes before it ends
        assert stream.status == 200
        assert stream.ended.wait(60), "the stream outlived LIVE_MAX_STREAM_SECONDS"
        assert stream.events == []
        assert stream.resume_from is not None, "an idle stream gave no id to resume from"

        away = {"title": "While away"}
        missed = httpx.post(items, json=away, headers=user.headers).json()
        settled(engine)  # else the next stream may end before it can be read
        resumed = Stream(short_lived, {**user.headers, "Last-Event-ID": stream.resume_from})
        try:
            resumed.wait_for(about(missed["id"], "created"))
            assert resumed.resume_from is None  # a resumed stream goes on from its header
        finally:
            resumed.close()
