"""Live updates across processes: two servers on one PostgreSQL database stream each
other's writes (both read the change log), and a stopping server ends its streams
instead of waiting."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import API, PASSWORD, bearer, free_port, start_server
from tests.live_streams import LIVE_SETTINGS, Stream, about

pytestmark = pytest.mark.slow  # two servers

ADMIN = "admin@example.com"
Server = tuple[str, subprocess.Popen[bytes], Path]  # base URL, process, log


@pytest.fixture
def servers(scratch_postgres: str, tmp_path: Path) -> Iterator[list[Server]]:
    env = {**LIVE_SETTINGS, "FIRST_ADMIN_EMAIL": ADMIN, "FIRST_ADMIN_PASSWORD": PASSWORD}
    started: list[Server] = []
    try:
        for name in ("a", "b"):
            port, log = free_port(), tmp_path / f"{name}.log"
            process = start_server(port, log, database_url=scratch_postgres, **env)
            started.append((f"http://127.0.0.1:{port}{API}", process, log))
        yield started
    finally:
        for _, process, _ in started:
            process.terminate()
            process.wait(timeout=60)


def sign_in(base: str, email: str) -> dict[str, str]:
    if email != ADMIN:
        httpx.post(f"{base}/auth/register", json={"email": email, "password": PASSWORD})
    login = httpx.post(f"{base}/auth/login", json={"email": email, "password": PASSWORD})
    return bearer(login.json()["accessToken"])


def test_a_write_on_one_server_is_streamed_by_the_other(servers: list[Server]) -> None:
    (a, _, _), (b, _, _) = servers
    user, admin = sign_in(a, "user@example.com"), sign_in(b, ADMIN)
    on_a, on_b = Stream(a, user), Stream(b, admin)

    item = httpx.post(f"{b}/items", json={"title": "From b"}, headers=user).json()
    on_a.wait_for(about(item["id"], "created"))
    on_b.wait_for(about(item["id"], "created"))
    on_a.close()
    on_b.close()


def test_a_stopping_server_ends_its_streams(servers: list[Server]) -> None:
    (a, process, log), _ = servers
    stream = Stream(a, sign_in(a, "user@example.com"))
    assert stream.status == 200
    process.terminate()
    assert stream.ended.wait(30), "the stream kept the server from stopping"
    process.wait(timeout=30)
    assert "Finished server process" in log.read_text()
