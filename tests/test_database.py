"""Connections and threads under pressure: small pools, dropped connections, gone clients."""

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from starlette.requests import ClientDisconnect

from app.core import threads as threads_module
from app.core.config import Settings
from app.core.db import Database
from app.core.passwords import PasswordHasher
from app.core.threads import HashingBusy, RequestAbandoned, Threads
from app.models import Role
from tests.helpers import API, PASSWORD, TEST_SECRET, Account, bearer, login, me_status


@pytest.mark.slow
def test_a_tiny_pool_serves_many_concurrent_requests_without_deadlock(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    client = make_client(database_pool_size=1, database_pool_timeout=3)
    token = login(client, user.email)["accessToken"]
    client.post(f"{API}/items", json={"title": "one"}, headers=bearer(token))

    def list_then_create(n: int) -> tuple[int, int]:
        listed = client.get(f"{API}/items", headers=bearer(token)).status_code
        created = client.post(f"{API}/items", json={"title": f"i{n}"}, headers=bearer(token))
        return listed, created.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(list_then_create, range(48)))
    assert set(results) == {(200, 201)}


@pytest.mark.slow
def test_a_dropped_connection_is_retried_for_the_sign_in_check(
    client: TestClient, backend: str, user: Account, database_url: str
) -> None:
    if backend != "postgresql":
        pytest.skip("only a database server can drop its connections")
    assert me_status(client, user.access_token) == 200
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    admin.dispose()
    assert killed >= 1
    assert me_status(client, user.access_token) == 200


def _threads(concurrency: int = 1) -> Threads:
    settings = Settings(
        _env_file=None, environment="test", database_url="sqlite://", jwt_secret_key=TEST_SECRET
    )
    return Threads(settings.model_copy(update={"password_hash_concurrency": concurrency}))


def test_no_hash_is_computed_for_a_client_that_left() -> None:
    threads = _threads()
    calls: list[str] = []

    def hash_it() -> str:
        calls.append(PASSWORD)
        return "x"

    async def gone() -> bool:
        return True

    async def still_here() -> bool:
        return False

    async def scenario() -> None:
        with pytest.raises(RequestAbandoned):
            await threads.run_hashing(hash_it, abandoned=gone)
        assert await threads.run_hashing(hash_it, abandoned=still_here) == "x"

    try:
        asyncio.run(scenario())
    finally:
        threads.close()
    assert calls == [PASSWORD]


def test_one_hash_runs_at_a_time_while_the_other_hashing_thread_does_other_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads, hasher = _threads(), PasswordHasher(4)  # one hash at a time
    in_bcrypt, release = threading.Event(), threading.Event()
    running: list[int] = []
    at_once: list[int] = []
    hashpw = bcrypt.hashpw

    def held_hashpw(password: bytes, salt: bytes) -> bytes:
        running.append(1)
        at_once.append(len(running))
        in_bcrypt.set()
        release.wait(timeout=30)
        hashed: bytes = hashpw(password, salt)
        running.pop()
        return hashed

    monkeypatch.setattr(bcrypt, "hashpw", held_hashpw)

    async def scenario() -> None:
        first = asyncio.ensure_future(threads.run_hashing(hasher.hash, "first"))
        assert await asyncio.to_thread(in_bcrypt.wait, 30)
        # A check's database work, before or after its hash, runs beside the hash.
        other_work = threads.run_hashing(lambda: "database work")
        assert await asyncio.wait_for(other_work, timeout=20) == "database work"
        in_bcrypt.clear()
        second = asyncio.ensure_future(threads.run_hashing(hasher.hash, "second"))
        assert not await asyncio.to_thread(in_bcrypt.wait, 0.2), "two hashes ran at once"
        release.set()
        await asyncio.gather(first, second)

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        threads.close()
    assert at_once == [1, 1]


def test_a_sign_in_that_cannot_get_a_hashing_slot_in_time_is_asked_to_come_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threads_module, "MAX_WAIT_SECONDS", 0.2)
    threads = _threads()
    release = threading.Event()

    def stuck() -> bool:
        release.wait(timeout=30)
        return True

    async def scenario() -> BaseException | bool:
        # Both hashing threads are busy: both slots are taken.
        held = [asyncio.ensure_future(threads.run_hashing(stuck)) for _ in range(2)]
        await asyncio.sleep(0.05)
        outcome = await asyncio.gather(threads.run_hashing(stuck), return_exceptions=True)
        release.set()
        assert await asyncio.gather(*held) == [True, True]
        return outcome[0]

    try:
        busy = asyncio.run(scenario())
    finally:
        release.set()
        threads.close()
    assert isinstance(busy, HashingBusy)
    assert busy.status == 503
    assert busy.headers == {"Retry-After": str(threads_module.RETRY_AFTER_SECONDS)}


def test_sign_ins_asked_to_come_back_hold_no_attempt(
    make_client: Callable[..., TestClient], user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client()
    monkeypatch.setattr(threads_module, "MAX_WAIT_SECONDS", 0)  # no slot is ever free in time
    body = {"email": user.email, "password": PASSWORD}
    for _ in range(7):  # more than the 5 checks an account may have in flight
        response = client.post(f"{API}/auth/login", json=body)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == str(threads_module.RETRY_AFTER_SECONDS)
    monkeypatch.setattr(threads_module, "MAX_WAIT_SECONDS", 30)
    assert client.post(f"{API}/auth/login", json=body).status_code == 200


def test_a_client_leaving_is_logged_not_answered_with_500(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()

    @client.app.get("/leaving")  # type: ignore[attr-defined,untyped-decorator]
    async def leaving() -> None:
        raise ClientDisconnect

    with (
        caplog.at_level(logging.INFO, logger="app.core.middleware"),
        pytest.raises(AssertionError, match="did not receive any response"),
    ):
        client.get("/leaving")
    assert "Client left before GET /leaving" in caplog.text
    assert "Unhandled" not in caplog.text


def test_a_whole_table_past_the_exact_limit_gets_the_planner_estimate(
    client: TestClient,
    backend: str,
    make_account: Callable[..., Account],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("app.core.pagination.EXACT_COUNT_LIMIT", 3)
    admin = make_account(role=Role.ADMIN)
    for _ in range(6):
        make_account(is_active=False)

    def totals() -> tuple[int, int]:
        whole = client.get(f"{API}/users", headers=admin.headers)
        filtered = client.get(f"{API}/users", params={"isActive": "false"}, headers=admin.headers)
        assert whole.headers["X-Total-Count"] == str(whole.json()["total"])
        return whole.json()["total"], filtered.json()["total"]

    assert totals() == (7, 6)  # no statistics yet (or SQLite): counted exactly
    if backend != "postgresql":
        return
    analyzer = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with analyzer.connect() as connection:
        connection.execute(text("ANALYZE users"))
    analyzer.dispose()
    make_account(is_active=False)
    make_account(is_active=False)
    # 9 users now; the whole table reports the estimate from the last ANALYZE,
    # a filtered list still counts exactly.
    assert totals() == (7, 8)


@pytest.mark.parametrize(
    ("environment", "expected"), [("production", 2), ("development", 1), ("test", 1)]
)
def test_sqlite_in_production_syncs_every_commit_to_disk(
    tmp_path: Path, environment: str, expected: int
) -> None:
    # FULL (2) makes an acknowledged write survive a power loss; NORMAL (1) survives
    # a crash of the process only, which is enough while developing.
    settings = Settings(
        _env_file=None,
        environment=environment,
        jwt_secret_key=TEST_SECRET,
        database_url=f"sqlite:///{tmp_path / 'durable.db'}",
    )
    database = Database(settings)
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA synchronous")).scalar() == expected
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        database.dispose()
