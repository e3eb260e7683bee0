"""The server as shipped (`python -m app serve`): request heads are bounded."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from app.core.migrations import PROJECT_ROOT
from tests.conftest import TEST_SECRET
from tests.helpers import free_port

pytestmark = pytest.mark.slow  # starts a real server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real server on a free port (SQLite); yields its host and port."""
    port = free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "JWT_SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('served') / 'app.db'}",
        "WEB_CONCURRENCY": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(timeout=120)


def wait_until_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180  # generous: the machine may be busy
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not answer /health")


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
def test_an_oversized_request_head_is_refused_early(served: tuple[str, int], head: bytes) -> None:
    answer, sent = exchange(served, head)

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large", answer[:200]
    assert b'"code":"HEADERS_TOO_LARGE"' in rest
    assert sent < len(head) or len(head) < 1_000_000  # the 5 MB head was not read whole


def test_a_large_but_reasonable_head_is_served(served: tuple[str, int]) -> None:
    cookie = b"Cookie: " + b"c" * 16_000 + b"\r\n"
    answer, _ = exchange(served, request_head(cookie, b"Connection: close\r\n"))
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]  # served: no token


def test_the_server_lives_on_after_refusing(served: tuple[str, int]) -> None:
    exchange(served, request_head(b"X: " + b"A" * 100_000 + b"\r\n"))
    assert httpx.get(f"http://{served[0]}:{served[1]}/health").status_code == 200
