"""What tests share besides fixtures: the API's paths, accounts, signing in, the calls
and checks many test files make, and reading the database beside the app."""

import functools
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import jwt
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import ColumnElement
from sqlmodel import Session, SQLModel, func, select

from app.core.config import Settings
from app.core.errors import ErrorCode
from app.core.migrations import PROJECT_ROOT
from app.core.state import app_state
from app.core.tokens import create_session_token
from app.models import Role
from app.models.fields import utcnow

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256"
API = "/api/v1"
USERS = f"{API}/users"
ME = f"{USERS}/me"
PASSWORD = "correct horse battery"
EURO = "\u20ac"  # three bytes in UTF-8
NEW_PASSWORD = "a brand new password"
PAGE_FIELDS = {"items", "total", "offset", "limit"}
USER_FIELDS = {"id", "email", "name", "role", "isActive", "emailVerified", "createdAt", "updatedAt"}

Model = TypeVar("Model", bound=SQLModel)


@dataclass
class Account:
    """A user in the database, signed in once through the API (unless inactive)."""

    id: uuid.UUID
    email: str
    password: str
    role: Role
    access_token: str = ""
    refresh_token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


# The app


def settings_of(client: TestClient) -> Settings:
    """The settings of `client`'s app."""
    settings: Settings = app_state(client.app).settings
    return settings


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def error_body(code: ErrorCode) -> dict[str, str]:
    """The whole JSON body of an error answered with `code`."""
    return {"detail": code.message, "code": code.value}


# Tokens and signing in


def bearer(token: str) -> dict[str, str]:
    """An Authorization header carrying `token`."""
    return {"Authorization": f"Bearer {token}"}


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without checking its signature."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def session_id(token: str) -> uuid.UUID:
    """The session (`sid`) an access or refresh token belongs to."""
    return uuid.UUID(unverified_claims(token)["sid"])


def session_token(
    client: TestClient,
    kind: Literal["access", "refresh"],
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    expires_in: timedelta,
) -> str:
    """An access or refresh token signed with the app's key, expiring `expires_in` from now."""
    now = utcnow()
    return create_session_token(
        settings_of(client),
        kind,
        user_id=user_id,
        session_id=session_id,
        issued_at=now,
        expires_at=now + expires_in,
    )


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Sign in through the API and return the token pair (asserting success)."""
    response = client.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def login_status(client: TestClient, email: str, password: str = PASSWORD) -> int:
    """The status of a sign-in through `/auth/login`."""
    response = client.post(f"{API}/auth/login", json={"email": email, "password": password})
    return response.status_code


def me(client: TestClient, access_token: str) -> Response:
    """`GET /users/me` with `access_token`."""
    return client.get(ME, headers=bearer(access_token))


def me_status(client: TestClient, access_token: str) -> int:
    """The status of `GET /users/me` with `access_token`."""
    return me(client, access_token).status_code


def refresh(client: TestClient, refresh_token: str) -> Response:
    """`POST /auth/refresh` with `refresh_token`."""
    return client.post(f"{API}/auth/refresh", json={"refreshToken": refresh_token})


def refresh_status(client: TestClient, refresh_token: str) -> int:
    """The status of `POST /auth/refresh` with `refresh_token`."""
    return refresh(client, refresh_token).status_code


def assert_unauthorized(response: Response) -> None:
    """A 401 with the `WWW-Authenticate: Bearer` challenge."""
    assert response.status_code == 401, response.text
    assert response.headers.get("www-authenticate") == "Bearer"


# Passwords


def change_password(client: TestClient, access_token: str, body: dict[str, Any]) -> Response:
    """`PATCH /users/me/password` with `body`, signed in with `access_token`."""
    return client.patch(f"{ME}/password", json=body, headers=bearer(access_token))


def request_reset(client: TestClient, email: str) -> Response:
    """`POST /auth/password-reset` for `email`."""
    return client.post(f"{API}/auth/password-reset", json={"email": email})


def confirm_reset(client: TestClient, token: str, new_password: str = NEW_PASSWORD) -> Response:
    """`POST /auth/password-reset/confirm` with a reset token and a new password."""
    return client.post(
        f"{API}/auth/password-reset/confirm", json={"token": token, "newPassword": new_password}
    )


# Lists


def entries(response: Response) -> list[dict[str, Any]]:
    """The entries on a page of a list (asserting 200)."""
    assert response.status_code == 200, response.text
    page: list[dict[str, Any]] = response.json()["items"]
    return page


def ids_of(response: Response) -> list[str]:
    """The ids of the entries on a page of a list (asserting 200)."""
    return [entry["id"] for entry in entries(response)]


def assert_pages_in_total_order(
    page: Callable[[str, int], list[str]], field: str, ids: set[str], limit: int
) -> None:
    """Rows that tie on `field` come in one order, page after page, both ways.

    `page(sort, offset)` gives the ids on a page of `limit` rows sorted by `sort`;
    `ids` are all the rows, two full pages and one row more.
    """
    assert len(ids) == 2 * limit + 1
    orders = {}
    for sort in (field, f"-{field}"):
        pages = [page(sort, 0), page(sort, limit), page(sort, 2 * limit)]
        seen = [row_id for chunk in pages for row_id in chunk]
        assert [len(chunk) for chunk in pages] == [limit, limit, 1], sort
        assert len(seen) == len(set(seen)) == len(ids), sort
        assert set(seen) == ids, sort
        assert [page(sort, 0), page(sort, limit), page(sort, 2 * limit)] == pages, sort
        orders[sort] = seen
    # The order is total (a tie-breaker decides), so descending is ascending reversed.
    assert orders[f"-{field}"] == orders[field][::-1]


# Values in answers


def timestamp(value: str) -> datetime:
    """A timestamp of the API, which must carry its UTC offset."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, value
    assert parsed.utcoffset() is not None, value
    return parsed


# The database beside the app


def fresh(db: Session) -> Session:
    """Forget what `db` has loaded, so the next reads see what the app committed."""
    db.rollback()
    db.expire_all()
    return db


def stored(db: Session, model: type[Model], row_id: str | uuid.UUID) -> Model | None:
    """The row of `model` with id `row_id` as committed now, or None."""
    row = fresh(db).get(model, uuid.UUID(str(row_id)))
    db.commit()
    return row


def count_rows(db: Session, model: type[SQLModel], *where: ColumnElement[bool]) -> int:
    """How many rows of `model` match `where`, as committed now."""
    total: int = fresh(db).exec(select(func.count()).select_from(model).where(*where)).one()
    db.commit()
    return total


# Concurrency


def at_once(sends: Sequence[Callable[[], Any]], *, timeout: float = 120) -> list[Any]:
    """Run the calls `sends` from one thread each, released together by a barrier;
    returns their results in order (generous timeouts: a busy machine is slow)."""
    barrier = threading.Barrier(len(sends), timeout=timeout)
    results: list[Any] = [None] * len(sends)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = sends[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads)
    return results


def race(
    client: TestClient, calls: list[tuple[str, str, Account, dict[str, Any] | None]]
) -> list[int]:
    """Send the requests `(method, url, caller, body)` at the same moment from threads;
    returns their statuses in the order of `calls`."""

    def send(method: str, url: str, caller: Account, body: dict[str, Any] | None) -> int:
        return client.request(method, url, json=body, headers=caller.headers).status_code

    return at_once([functools.partial(send, *call) for call in calls])


# A real server


def start_server(port: int, log: Path, *, database_url: str, **env: str) -> subprocess.Popen[bytes]:
    """`python -m app serve` on `port` (one process, test settings, `env` on top), its
    output in `log`; returns once it answers /health."""
    environment = {
        **os.environ,
        "ENVIRONMENT": "test",
        "JWT_SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database_url,
        "WEB_CONCURRENCY": "1",
        **env,
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 180  # generous: the machine may be busy
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited: {log.read_text()[-2000:]}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not answer /health")


def poll(condition: Callable[[], bool], *, seconds: float = 120) -> bool:
    """Whether `condition` came true within `seconds` (generous: the box may be busy)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
