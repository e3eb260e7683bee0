"""Three replicas of the service on one PostgreSQL database behind a real HAProxy: they
start together (migrating once), share throttling, revocation and refresh rotation
through the database, and losing one loses no acknowledged write."""

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.core.migrations import PROJECT_ROOT
from bench.proxy import haproxy_config, haproxy_path
from tests.helpers import API, PASSWORD, TEST_SECRET, at_once, free_port, poll, start_server

pytestmark = pytest.mark.slow  # three servers and a proxy

ADMIN = "admin@example.com"
HAPROXY = haproxy_path()


@dataclass
class Replicas:
    """The replicas' base URLs, the proxy's, and the replicas' processes."""

    urls: list[str]
    proxy: str
    processes: list[subprocess.Popen[bytes]]


@pytest.fixture
def replicas(scratch_postgres: str, tmp_path: Path) -> Iterator[Replicas]:
    if HAPROXY is None:
        pytest.fail("needs HAProxy (Debian's haproxy; .ci/run installs it)")
    ports = [free_port() for _ in range(3)]
    env = {
        "FIRST_ADMIN_EMAIL": ADMIN,
        "FIRST_ADMIN_PASSWORD": PASSWORD,
        "BCRYPT_ROUNDS": "4",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "REFRESH_GRACE_SECONDS": "0",
    }
    starts = [
        functools.partial(
            start_server,
            port,
            tmp_path / f"replica-{port}.log",
            database_url=scratch_postgres,
            **env,
        )
        for port in ports
    ]
    processes = at_once(starts, timeout=300)  # started together: they migrate one at a time
    assert all(process is not None for process in processes), "a replica did not start"
    proxy_port = free_port()
    servers = [f"127.0.0.1:{port}" for port in ports]
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(proxy_port, servers, check_every="300ms"))
    haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL)
    proxy = f"http://127.0.0.1:{proxy_port}"

    def proxy_up() -> bool:
        try:
            return httpx.get(f"{proxy}/health/ready").status_code == 200
        except httpx.TransportError:
            return False

    assert poll(proxy_up)
    try:
        yield Replicas([f"http://127.0.0.1:{port}" for port in ports], proxy, processes)
    finally:
        haproxy.terminate()
        haproxy.wait(timeout=60)
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=120)
    for port in ports:
        assert "Traceback" not in (tmp_path / f"replica-{port}.log").read_text()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(base: str, email: str, password: str = PASSWORD) -> dict[str, str]:
    answer = httpx.post(f"{base}{API}/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    pair: dict[str, str] = answer.json()
    return pair


def statuses(urls: list[str], path: str, token: str) -> list[int]:
    """The status of `GET path` with `token` on each replica."""
    return [httpx.get(f"{url}{API}{path}", headers=bearer(token)).status_code for url in urls]


def test_replicas_agree_through_the_database(replicas: Replicas, scratch_postgres: str) -> None:
    urls, proxy = replicas.urls, replicas.proxy
    engine = create_engine(scratch_postgres)
    with engine.connect() as connection:  # migrated once, the first admin created once
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        admins = text("SELECT count(*) FROM users WHERE email = :email")
        assert connection.execute(admins, {"email": ADMIN}).scalar() == 1
    engine.dispose()
    admin = sign_in(proxy, ADMIN)["accessToken"]

    # Throttling counts across replicas: 5 wrong passwords spread round-robin, then 429
    # on every replica, even with the right password.
    victim = {"email": "victim@example.com", "password": PASSWORD}
    assert httpx.post(f"{proxy}{API}/auth/register", json=victim).status_code == 201
    wrong = {"email": victim["email"], "password": "not the password"}
    assert [httpx.post(f"{proxy}{API}/auth/login", json=wrong).status_code for _ in range(5)] == [
        401
    ] * 5
    refused = [httpx.post(f"{url}{API}/auth/login", json=victim).status_code for url in urls]
    assert refused == [429, 429, 429]

    # A revoked session is refused by every replica at once.
    reader = {"email": "reader@example.com", "password": PASSWORD}
    assert httpx.post(f"{proxy}{API}/auth/register", json=reader).status_code == 201
    session = sign_in(urls[0], reader["email"])
    assert statuses(urls, "/users/me", session["accessToken"]) == [200, 200, 200]
    logout = httpx.post(f"{urls[1]}{API}/auth/logout", headers=bearer(session["accessToken"]))
    assert logout.status_code == 204
    assert statuses(urls, "/users/me", session["accessToken"]) == [401, 401, 401]

    # A revoked API token, on every replica.
    fresh = sign_in(urls[2], reader["email"])["accessToken"]
    created = httpx.post(
        f"{urls[0]}{API}/users/me/tokens",
        json={"name": "script", "scopes": ["read"]},
        headers=bearer(fresh),
    )
    assert created.status_code == 201, created.text
    api_token = created.json()["token"]
    assert statuses(urls, "/users/me", api_token) == [200, 200, 200]
    revoke = f"{urls[1]}{API}/users/me/tokens/{created.json()['id']}"
    assert httpx.delete(revoke, headers=bearer(fresh)).status_code == 204
    assert statuses(urls, "/users/me", api_token) == [401, 401, 401]

    # A deactivated user, on every replica.
    me = httpx.get(f"{proxy}{API}/users/me", headers=bearer(fresh)).json()
    assert statuses(urls, "/users/me", fresh) == [200, 200, 200]
    patched = httpx.patch(
        f"{urls[2]}{API}/users/{me['id']}", json={"isActive": False}, headers=bearer(admin)
    )
    assert patched.status_code == 200
    assert statuses(urls, "/users/me", fresh) == [401, 401, 401]

    # A demoted admin loses admin routes on every replica.
    peer = {"email": "peer@example.com", "password": PASSWORD, "role": "ADMIN"}
    assert httpx.post(f"{proxy}{API}/users", json=peer, headers=bearer(admin)).status_code == 201
    peer_token = sign_in(urls[0], peer["email"])["accessToken"]
    assert statuses(urls, "/users", peer_token) == [200, 200, 200]
    peer_id = httpx.get(f"{proxy}{API}/users/me", headers=bearer(peer_token)).json()["id"]
    demoted = httpx.patch(
        f"{urls[1]}{API}/users/{peer_id}", json={"role": "USER"}, headers=bearer(admin)
    )
    assert demoted.status_code == 200
    assert all(status in (401, 403) for status in statuses(urls, "/users", peer_token))

    # Refresh rotation and reuse detection across replicas.
    pair = sign_in(urls[0], ADMIN)
    rotated = httpx.post(
        f"{urls[1]}{API}/auth/refresh", json={"refreshToken": pair["refreshToken"]}
    )
    assert rotated.status_code == 200
    reused = httpx.post(f"{urls[2]}{API}/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert reused.status_code == 401
    successor = {"refreshToken": rotated.json()["refreshToken"]}
    assert httpx.post(f"{urls[0]}{API}/auth/refresh", json=successor).status_code == 401


def test_losing_a_replica_loses_no_acknowledged_write(
    replicas: Replicas, scratch_postgres: str
) -> None:
    proxy = replicas.proxy
    token = sign_in(proxy, ADMIN)["accessToken"]
    acknowledged: list[str] = []
    failed: list[int] = []
    stop = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=proxy, headers=bearer(token), timeout=60) as http:
            number = 0
            while not stop.is_set():
                title = f"write {number}"
                try:
                    status = http.post(f"{API}/items", json={"title": title}).status_code
                except httpx.TransportError:
                    status = 0
                if status == 201:
                    acknowledged.append(title)
                else:
                    failed.append(status)
                number += 1

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert poll(lambda: len(acknowledged) >= 30)
    replicas.processes[1].send_signal(signal.SIGKILL)
    killed_at, killed = len(acknowledged), time.monotonic()
    # The proxy's health check (every 0.3 s, down after 2 failures) takes it out; after
    # a few seconds every write succeeds again.
    assert poll(lambda: time.monotonic() > killed + 5 and len(acknowledged) > killed_at + 30)
    settled = len(failed)
    assert poll(lambda: len(acknowledged) >= killed_at + 150)
    stop.set()
    writer.join(timeout=120)
    assert len(failed) == settled, failed  # none failed once the proxy had taken it out

    engine = create_engine(scratch_postgres)
    with engine.connect() as connection:
        stored = {row[0] for row in connection.execute(text("SELECT title FROM items"))}
    engine.dispose()
    assert set(acknowledged) <= stored


def test_instances_started_together_migrate_one_at_a_time(
    scratch_postgres: str, tmp_path: Path
) -> None:
    environment = {
        **os.environ,
        "ENVIRONMENT": "test",
        "JWT_SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": scratch_postgres,
        "FIRST_ADMIN_EMAIL": ADMIN,
        "FIRST_ADMIN_PASSWORD": PASSWORD,
        "BCRYPT_ROUNDS": "4",
    }

    def migrate(index: int) -> tuple[int, str]:
        log = tmp_path / f"migrate-{index}.log"
        with log.open("wb") as output:
            command = [sys.executable, "-m", "app", "migrate"]
            code = subprocess.call(
                command, cwd=PROJECT_ROOT, env=environment, stdout=output, stderr=output
            )
        return code, log.read_text()

    results = at_once([functools.partial(migrate, index) for index in range(6)], timeout=300)
    assert [code for code, _ in results] == [0] * 6, [log[-1500:] for _, log in results]
    engine = create_engine(scratch_postgres)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        admins = text("SELECT count(*) FROM users WHERE email = :email")
        assert connection.execute(admins, {"email": ADMIN}).scalar() == 1
    engine.dispose()
