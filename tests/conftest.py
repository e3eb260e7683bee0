"""Fixtures: a scratch database per backend, an app per test, accounts in every state.

Every test runs against SQLite and, when `TEST_DATABASE_URL` names a PostgreSQL
server, against PostgreSQL too (under `CI=true` it must). Both start from the
migrated schema, never from `create_all`, and never touch the developer's database:
each backend has one database migrated for the run (a SQLite file, a PostgreSQL
scratch database) and one app serving it, and every table is emptied after each
test; tests that need other settings start an app of their own.
"""

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, make_url, text
from sqlmodel import Session, SQLModel

from app.core.config import Settings
from app.core.migrations import migrate
from app.core.state import app_state
from app.main import create_app
from app.models import AuditEvent, Role, UserCreate
from app.services import accounts
from tests.attachment_support import Files, local_files, s3_files
from tests.helpers import NEW_PASSWORD, PASSWORD, TEST_SECRET, Account, login
from tests.s3_server import S3Server, s3_server


def _postgres_url() -> str | None:
    raw = os.environ.get("TEST_DATABASE_URL")
    if not raw:
        return None
    return Settings(_env_file=None, environment="test", database_url=raw).database_url


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI", "").lower() == "true" and not os.environ.get("TEST_DATABASE_URL"):
        raise pytest.UsageError("CI=true but TEST_DATABASE_URL is not set: PostgreSQL is required")


BACKENDS = ["sqlite", "postgresql"] if _postgres_url() else ["sqlite"]


def create_postgres_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url`; returns its URL."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server_url: str, name: str) -> None:
    """Drop database `name`, disconnecting whoever is still on it."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server given by TEST_DATABASE_URL (tests needing it skip otherwise)."""
    url = _postgres_url()
    if url is None:
        pytest.skip("TEST_DATABASE_URL is not set")
    return url


@pytest.fixture
def scratch_postgres(postgres_server: str) -> Iterator[str]:
    """An empty PostgreSQL database of the test's own."""
    name = f"test_api_{uuid.uuid4().hex[:12]}"
    url = create_postgres_database(postgres_server, name)
    yield url
    drop_postgres_database(postgres_server, name)


def _test_settings(**values: Any) -> Settings:
    defaults = {"environment": "test", "jwt_secret_key": TEST_SECRET, "bcrypt_rounds": 4}
    return Settings(_env_file=None, **{**defaults, **values})


@pytest.fixture(scope="session", params=BACKENDS)
def backend_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(backend, URL) of a database migrated for this run: a SQLite file, or a
    scratch PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("database") / "app.db"
        url = f"sqlite:///{path}"
        migrate(url)
        yield "sqlite", url
        return
    server = _postgres_url()
    assert server is not None
    name = f"test_api_{uuid.uuid4().hex[:12]}"
    url = create_postgres_database(server, name)
    migrate(url)
    yield "postgresql", url
    drop_postgres_database(server, name)


@pytest.fixture(scope="session")
def shared_client(backend_database: tuple[str, str]) -> Iterator[TestClient]:
    """One app per backend with the test settings, reused by the tests."""
    with TestClient(create_app(_test_settings(database_url=backend_database[1]))) as client:
        yield client


@pytest.fixture
def backend(backend_database: tuple[str, str]) -> str:
    """The backend under test: `sqlite` or `postgresql`."""
    return backend_database[0]


@pytest.fixture(scope="session")
def cleanup_engine(backend_database: tuple[str, str]) -> Iterator[Engine]:
    """A connection pool kept for emptying the database between tests."""
    engine = create_engine(backend_database[1], pool_pre_ping=True)
    yield engine
    engine.dispose()


# What must never reach the audit log: the tests' passwords, and anything shaped like
# a JWT, an API token or a bcrypt hash.
SECRET_SHAPES = re.compile(
    "|".join(
        [
            re.escape(PASSWORD),
            re.escape(NEW_PASSWORD),
            r"eyJ[\w-]+\.eyJ",
            r"sqa_pat_",
            r"\$2[aby]\$",
        ]
    )
)


def assert_no_secret_in_the_audit_log(engine: Engine) -> None:
    """Every column of every audit event written by the test is free of secrets."""
    with engine.connect() as connection:
        for row in connection.execute(AuditEvent.__table__.select()):  # type: ignore[attr-defined]
            for column, value in row._mapping.items():
                found = SECRET_SHAPES.search(str(value))
                assert found is None, f"a secret in audit_events.{column}: {value!r}"


@pytest.fixture
def database_url(backend_database: tuple[str, str], cleanup_engine: Engine) -> Iterator[str]:
    """The migrated database, emptied again after the test (its audit log checked for
    secrets first)."""
    yield backend_database[1]
    assert_no_secret_in_the_audit_log(cleanup_engine)
    with cleanup_engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the developer's shell or `.env`."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    """Settings for a test app on this test's database, with `overrides`."""
    return lambda **overrides: _test_settings(**{"database_url": database_url, **overrides})


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Start an app of its own with setting `overrides`; returns its client."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(shared_client: TestClient, database_url: str) -> TestClient:
    """A client of the backend's app with the test settings (empty database)."""
    return shared_client


@pytest.fixture
def engine(client: TestClient) -> Engine:
    """The database engine of `client`'s app."""
    engine: Engine = app_state(client.app).database.engine
    return engine


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A database session beside the app, for arranging and checking rows."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def make_account(client: TestClient, engine: Engine) -> Callable[..., Account]:
    """Create a user directly in the database and sign them in (unless inactive)."""
    hasher = app_state(client.app).hasher
    password_hash = hasher.hash(PASSWORD)

    def make(
        email: str | None = None,
        *,
        role: Role = Role.USER,
        is_active: bool = True,
        name: str | None = None,
    ) -> Account:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        user_in = UserCreate(
            email=email, password=PASSWORD, name=name, role=role, is_active=is_active
        )
        with Session(engine, expire_on_commit=False) as session:
            user = accounts.create_user(session, user_in=user_in, password_hash=password_hash)
            session.commit()
        account = Account(id=user.id, email=user.email, password=PASSWORD, role=role)
        if is_active:
            tokens = login(client, account.email)
            account.access_token = tokens["accessToken"]
            account.refresh_token = tokens["refreshToken"]
        return account

    return make


@pytest.fixture
def user(make_account: Callable[..., Account]) -> Account:
    return make_account("user@example.com", name="User")


@pytest.fixture
def other_user(make_account: Callable[..., Account]) -> Account:
    return make_account("other@example.com", name="Other")


@pytest.fixture
def admin(make_account: Callable[..., Account]) -> Account:
    return make_account("admin@example.com", role=Role.ADMIN, name="Admin")


@pytest.fixture
def inactive_user(make_account: Callable[..., Account]) -> Account:
    return make_account("inactive@example.com", is_active=False)


# Files of items: an app whose files go to a directory, or to a real S3-compatible server.


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """moto's S3 server, for the tests' session."""
    with s3_server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def files(
    request: pytest.FixtureRequest, make_client: Callable[..., TestClient], tmp_path: Path
) -> Files:
    """An app whose files go to a directory, or to an S3 bucket (each test runs on both)."""
    if request.param == "local":
        return local_files(make_client, tmp_path / "files")
    return s3_files(make_client, request.getfixturevalue("s3"))
