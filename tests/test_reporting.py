"""Error reports to Sentry (SENTRY_DSN): an unhandled error reaches a Sentry endpoint on
loopback through the real SDK and its HTTP transport, and no password, token or cookie
of the request is in what it sent."""

import gzip
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.migrations import PROJECT_ROOT
from app.core.reporting import scrub
from tests.helpers import API, poll


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
    server.shutdown()
    server.server_close()


# Run in a process of its own: the SDK patches Starlette and threads for the whole
# process, which the other tests must not inherit.
FAILING_REQUEST = """
import json, sys, uuid
import sentry_sdk
from fastapi.testclient import TestClient
from app.core.config import Settings
from app.core.migrations import migrate
from app.main import create_app
from app.services import profile

database_url, dsn = sys.argv[1], sys.argv[2]
migrate(database_url)
settings = Settings(
    _env_file=None, environment="test", database_url=database_url, jwt_secret_key="k" * 40,
    bcrypt_rounds=4, sentry_dsn=dsn,
)

def broken(*_args, **_kwargs):
    raise RuntimeError("the change of password broke")

profile.change_password = broken
password, new_password = uuid.uuid4().hex, uuid.uuid4().hex
cookie = f"cookie-{uuid.uuid4().hex}"
with TestClient(create_app(settings), raise_server_exceptions=False) as client:
    account = {"email": "reported@example.com", "password": password}
    assert client.post("/api/v1/auth/register", json=account).status_code == 201
    token = client.post("/api/v1/auth/login", json=account).json()["accessToken"]
    client.cookies.set("admin_session", cookie)
    response = client.patch(
        f"/api/v1/users/me/password?access_token={token}&page=2",
        json={"currentPassword": password, "newPassword": new_password},
        headers={"Authorization": f"Bearer {token}"},
    )
sentry_sdk.flush(timeout=30)
secrets = [password, new_password, token, cookie]
print(json.dumps({"status": response.status_code, "secrets": secrets}))
"""


def test_an_unhandled_error_is_reported_without_secrets(
    collector: Collector, tmp_path: Path
) -> None:
    dsn = f"http://publickey@127.0.0.1:{collector.server_address[1]}/1"
    child = subprocess.run(
        [sys.executable, "-c", FAILING_REQUEST, f"sqlite:///{tmp_path / 'app.db'}", dsn],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    said = json.loads(child.stdout.splitlines()[-1])
    assert said["status"] == 500
    assert poll(lambda: any('"type":"event"' in sent for sent in collector.envelopes))
    sent = "\n".join(collector.envelopes)
    assert "the change of password broke" in sent
    assert f"{API}/users/me/password" in sent
    for secret in said["secrets"]:
        at = sent.find(secret)
        assert at < 0, sent[max(0, at - 400) : at + 40]
    token = said["secrets"][2]
    assert token.split(".")[1] not in sent  # not even the token's claims


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
