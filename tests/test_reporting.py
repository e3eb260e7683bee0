"""Error reports to Sentry (SENTRY_DSN): an unhandled error reaches a Sentry endpoint on
loopback through the real SDK and its HTTP transport, and no password, token or cookie
of the request is in what it sent."""

import gzip
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from fastapi.testclient import TestClient

from app.core.reporting import scrub
from tests.helpers import API, ME, NEW_PASSWORD, PASSWORD, Account, poll


class Collector(ThreadingHTTPServer):
    """A Sentry endpoint on loopback that keeps every envelope it receives, as text."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), CollectorHandler)
        self.envelopes: list[str] = []


class CollectorHandler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.envelopes.append(body.decode())
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    sentry_sdk.init()  # no DSN: the SDK stops reporting for the rest of this process
    server.shutdown()
    server.server_close()


def test_an_unhandled_error_is_reported_without_secrets(
    make_client: Callable[..., TestClient],
    collector: Collector,
    user: Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = collector.server_address[1]
    client = make_client(sentry_dsn=f"http://publickey@127.0.0.1:{port}/1")
    cookie = f"cookie-{uuid.uuid4().hex}"  # made here: frames carry the lines of this file
    client.cookies.set("admin_session", cookie)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the change of password broke")

    monkeypatch.setattr("app.api.users.profile.change_password", broken)
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    url = f"{ME}/password?access_token={user.access_token}&page=2"
    response = client.patch(url, json=body, headers=user.headers)
    assert response.status_code == 500
    assert response.json()["detail"] == "Internal server error"

    sentry_sdk.flush(timeout=30)
    assert poll(lambda: any('"type":"event"' in sent for sent in collector.envelopes))
    sent = "\n".join(collector.envelopes)
    assert "the change of password broke" in sent
    assert f"{API}/users/me/password" in sent
    for secret in (PASSWORD, NEW_PASSWORD, user.access_token, cookie):
        at = sent.find(secret)
        assert at < 0, sent[max(0, at - 400) : at + 40]
    assert user.access_token.split(".")[0] not in sent  # not even the token's header


def test_scrub_replaces_secrets_by_name_and_by_look() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    event = {
        "message": f"failed with {jwt} and sqa_pat_abcdef123456",
        "request": {
            "url": "http://api.example/x?apiKey=k1&page=2",
            "query_string": "refresh_token=abc&q=milk",
            "headers": {"X-Api-Key": "k2", "User-Agent": "curl"},
            "data": {
                "email": "a@example.com",
                "newPassword": "p1",
                "nested": {"refreshToken": "t"},
            },
        },
        "extra": {"raw": '{"currentPassword": "p2", "title": "kept"}'},
        "exception": {"values": [{"type": "ValueError", "value": "code path"}]},
    }
    scrubbed = json.dumps(scrub(event))
    for secret in (jwt, "sqa_pat_abcdef", "k1", "k2", '"p1"', '"t"', '"p2"', "refresh_token=abc"):
        assert secret not in scrubbed, secret
    for kept in ("a@example.com", "page=2", "q=milk", "curl", "kept", "ValueError", "code path"):
        assert kept in scrubbed, kept


def test_off_without_a_dsn(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("the SDK was started without a DSN")

    monkeypatch.setattr("app.core.reporting.install", refuse)
    assert make_client().get("/health").status_code == 200
