"""Live updates' bounds, over a real server: streams per user, a client that falls
behind or does not read at all, and streams that end with their client."""

import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.core.errors import ErrorCode
from tests.helpers import Account, error_body, poll
from tests.live_streams import Stream, live_server

pytestmark = pytest.mark.slow  # starts a server

MAX_STREAMS = 2  # LIVE_MAX_STREAMS_PER_USER in tests.live_streams
QUEUE_SIZE = 5  # LIVE_QUEUE_SIZE there


@pytest.fixture(scope="module")
def base(
    backend_database: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("live-limits") / "server.log"
    with live_server(backend_database[1], log) as url:
        yield url


@pytest.fixture
def streams(base: str) -> Iterator[Callable[..., Stream]]:
    opened: list[Stream] = []

    def open_stream(headers: dict[str, str] | None = None, **options: Any) -> Stream:
        opened.append(Stream(base, headers, **options))
        return opened[-1]

    yield open_stream
    for stream in opened:
        stream.close()


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
    first, _second = streams(user.headers), streams(user.headers)
    third = streams(user.headers)
    assert (first.status, third.status) == (200, 429)
    assert third.body == error_body(ErrorCode.LIVE_TOO_MANY_STREAMS)
    assert streams(other_user.headers).status == 200  # the limit is each user's

    first.close()
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
