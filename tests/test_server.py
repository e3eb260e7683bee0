"""The server as shipped (`python -m app serve`): request heads are bounded in size
and time, and the access log keeps no secret from a query string."""

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from tests.helpers import free_port, poll, start_server

pytestmark = pytest.mark.slow  # starts a real server


HEAD_TIMEOUT = 2  # seconds, for these tests


class Served(NamedTuple):
    """A running server: where it listens, its process id, and its log file."""

    address: tuple[str, int]
    pid: int
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A real server on a free port (SQLite, one process)."""
    port, directory = free_port(), tmp_path_factory.mktemp("served")
    env = {"REQUEST_HEAD_TIMEOUT": str(HEAD_TIMEOUT)}
    log = directory / "server.log"
    process = start_server(port, log, database_url=f"sqlite:///{directory / 'app.db'}", **env)
    try:
        yield Served(("127.0.0.1", port), process.pid, log)
    finally:
        process.terminate()
        process.wait(timeout=120)


def exchange(address: tuple[str, int], head: bytes) -> tuple[bytes, float]:
    """Send a request head, in pieces, until the server answers or stops reading; returns
    what it answered and how many bytes it took in before that."""
    sent = 0
    with socket.create_connection(address, timeout=60) as connection:
        try:
            for start in range(0, len(head), 16384):
                connection.sendall(head[start : start + 16384])
                sent += min(16384, len(head) - start)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer, sent


def request_head(*headers: bytes) -> bytes:
    return b"GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\n" + b"".join(headers) + b"\r\n"


@pytest.mark.parametrize(
    "head",
    [
        request_head(b"Authorization: Bearer " + b"A" * 5_000_000 + b"\r\n"),
        request_head(*(b"X-Many-%d: y\r\n" % number for number in range(20_000))),
        request_head(*(b"X-Some-%d: y\r\n" % number for number in range(150))),
    ],
    ids=["5-MB-header", "20000-headers", "150-headers"],
)
def test_an_oversized_request_head_is_refused_early(served: Served, head: bytes) -> None:
    answer, sent = exchange(served.address, head)

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large", answer[:200]
    assert b'"code":"HEADERS_TOO_LARGE"' in rest
    assert sent < len(head) or len(head) < 1_000_000  # the 5 MB head was not read whole


def test_a_large_but_reasonable_head_is_served(served: Served) -> None:
    cookie = b"Cookie: " + b"c" * 16_000 + b"\r\n"
    answer, _ = exchange(served.address, request_head(cookie, b"Connection: close\r\n"))
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]  # served: no token


def test_the_server_lives_on_after_refusing(served: Served) -> None:
    exchange(served.address, request_head(b"X: " + b"A" * 100_000 + b"\r\n"))
    assert httpx.get(base_url(served) + "/health").status_code == 200


def base_url(served: Served) -> str:
    return f"http://{served.address[0]}:{served.address[1]}"


def assert_timed_out(connection: socket.socket, sent: bytes) -> None:
    """Send `sent`, an incomplete head: 408 and a close, no sooner than the timeout."""
    connection.sendall(sent)
    started = time.monotonic()
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"code":"REQUEST_TIMEOUT"' in answer
    assert waited >= HEAD_TIMEOUT * 0.9


@pytest.mark.parametrize(
    "sent", [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n"], ids=["nothing", "half-a-head"]
)
def test_a_head_that_does_not_arrive_in_time_gets_408(served: Served, sent: bytes) -> None:
    with socket.create_connection(served.address, timeout=120) as connection:
        assert_timed_out(connection, sent)


def test_a_later_head_is_timed_from_its_first_byte(served: Served) -> None:
    with socket.create_connection(served.address, timeout=120) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b"}" not in answer:  # the first answer, whole
            answer += connection.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        time.sleep(HEAD_TIMEOUT * 0.6)  # idle, within uvicorn's keep-alive: not counted
        assert_timed_out(connection, b"GET /health HTTP/1.1\r\nHost: x\r\n")


def open_files(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def test_clients_trickling_heads_cannot_hold_the_servers_connections(served: Served) -> None:
    before = open_files(served.pid)
    slow = [socket.create_connection(served.address, timeout=60) for _ in range(300)]
    try:
        for connection in slow:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            connection.setblocking(False)
        assert poll(lambda: open_files(served.pid) >= before + 300)
        assert httpx.get(base_url(served) + "/health", timeout=60).status_code == 200
        open_ones = set(slow)
        deadline = time.monotonic() + 120
        while open_ones and time.monotonic() < deadline:
            readable, _, _ = select.select(list(open_ones), [], [], 0.5)
            for connection in readable:
                try:
                    if not connection.recv(65536):
                        open_ones.discard(connection)
                except ConnectionResetError:
                    open_ones.discard(connection)
            for connection in open_ones - set(readable):
                try:
                    connection.send(b"y")  # a byte now and then: far from any size limit
                except OSError:
                    open_ones.discard(connection)
        assert not open_ones, f"{len(open_ones)} slow connections still open"
        assert poll(lambda: open_files(served.pid) <= before + 5)
    finally:
        for connection in slow:
            connection.close()


def test_the_access_log_keeps_no_secret_from_a_query_string(served: Served) -> None:
    secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2ln"
    url = base_url(served) + f"/health?access_token={secret}&page=2&q=sqa_pat_{'x' * 20}"
    assert httpx.get(url).status_code == 200
    assert poll(lambda: "GET /health?" in served.log.read_text())
    log = served.log.read_text()
    assert secret not in log
    assert "sqa_pat_" not in log
    assert "/health?access_token=[redacted]&page=2&q=[redacted]" in log
