"""A bad day: the database goes away and comes back. Requests that need it get 503 with
`Retry-After` (never a 500), and the service recovers without a restart."""

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import make_url

from app.core.logs import RequestIdFilter
from tests.helpers import API, PASSWORD, Account, bearer, login


class TcpRelay:
    """A TCP relay from a local port to a server, which can be cut and restored:
    cutting closes every connection and stops listening, as a database outage does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.create_server(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def restore(self) -> None:
        """Listen again on the same port."""
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and drop every relayed connection."""
        assert self._listener is not None
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    @staticmethod
    def _pump(first: socket.socket, second: socket.socket) -> None:
        peers = {first: second, second: first}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [], 1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            first.close()
            second.close()


@pytest.fixture
def relay(backend: str, database_url: str) -> Iterator[TcpRelay]:
    if backend != "postgresql":
        pytest.skip("only a database server can go away and come back")
    url = make_url(database_url)
    relay = TcpRelay((url.host or "127.0.0.1", url.port or 5432))
    relay.restore()
    yield relay
    relay.cut()


def assert_unavailable(response: Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {
        "detail": "The service is temporarily unavailable; try again shortly",
        "code": "SERVICE_UNAVAILABLE",
    }
    assert int(response.headers["retry-after"]) > 0
    assert "X-Request-ID" in response.headers


@pytest.mark.slow
def test_an_outage_is_503_and_the_service_recovers(
    make_client: Callable[..., TestClient],
    relay: TcpRelay,
    database_url: str,
    user: Account,
    caplog: pytest.LogCaptureFixture,
) -> None:
    through_relay = make_url(database_url).set(host="127.0.0.1", port=relay.port)
    client = make_client(database_url=through_relay.render_as_string(hide_password=False))
    token = login(client, user.email)["accessToken"]
    assert client.get(f"{API}/items", headers=bearer(token)).status_code == 200

    relay.cut()
    caplog.handler.addFilter(RequestIdFilter())  # as the app's logging configuration does
    with caplog.at_level(logging.WARNING, logger="app.core.handlers"):
        for method, path, body in (
            ("GET", f"{API}/users/me", None),
            ("GET", f"{API}/items", None),
            ("POST", f"{API}/items", {"title": "during the outage"}),
            ("POST", f"{API}/auth/login", {"email": user.email, "password": PASSWORD}),
            ("GET", "/health/ready", None),
        ):
            response = client.request(method, path, json=body, headers=bearer(token))
            assert_unavailable(response)
            # the cause is logged, tagged with the request's id
            request_id = response.headers["X-Request-ID"]
            [record] = [r for r in caplog.records if getattr(r, "request_id", "") == request_id]
            assert "Connection refused" in record.getMessage()
    assert client.get("/health").status_code == 200  # the process itself is fine

    relay.restore()
    assert client.get(f"{API}/users/me", headers=bearer(token)).status_code == 200
    assert client.get(f"{API}/items", headers=bearer(token)).status_code == 200
    created = client.post(f"{API}/items", json={"title": "after"}, headers=bearer(token))
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    "unreachable",
    [
        "postgresql://postgres@127.0.0.1:1/nothing",
        "sqlite:////nonexistent-directory/for/sure/app.db",
    ],
    ids=["postgresql-closed-port", "sqlite-missing-directory"],
)
def test_every_endpoint_that_needs_the_database_is_503_without_it(
    make_client: Callable[..., TestClient], user: Account, unreachable: str
) -> None:
    token = user.access_token  # signed with the test key, which both apps share
    client = make_client(database_url=unreachable)
    for method, path, body in (
        ("GET", f"{API}/users/me", None),
        ("GET", f"{API}/users", None),
        ("POST", f"{API}/auth/login", {"email": user.email, "password": PASSWORD}),
        ("POST", f"{API}/auth/register", {"email": "new@example.com", "password": PASSWORD}),
        ("POST", f"{API}/auth/refresh", {"refreshToken": user.refresh_token}),
        ("POST", f"{API}/auth/password-reset", {"email": user.email}),
        ("GET", "/health/ready", None),
    ):
        assert_unavailable(client.request(method, path, json=body, headers=bearer(token)))
