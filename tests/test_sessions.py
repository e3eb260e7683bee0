"""Sessions and the token lifecycle: rotation, reuse detection, revocation, listing."""

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from app.core.errors import ErrorCode
from app.core.state import app_state
from app.models import AuthSession, User
from app.models.fields import utcnow
from tests.helpers import (
    API,
    TEST_SECRET,
    Account,
    assert_unauthorized,
    bearer,
    error_body,
    login,
    me_status,
    refresh,
    session_id,
    session_token,
    unverified_claims,
)


def revoke(client: TestClient, caller: Account, target: uuid.UUID | str) -> Response:
    """`DELETE /auth/sessions/{target}` as `caller`."""
    return client.delete(f"{API}/auth/sessions/{target}", headers=caller.headers)


@contextmanager
def recorded_statements(*engines: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def test_tokens_carry_the_documented_claims(user: Account) -> None:
    access = jwt.decode(user.access_token, TEST_SECRET, algorithms=["HS256"])
    refresh_claims = jwt.decode(user.refresh_token, TEST_SECRET, algorithms=["HS256"])
    for claims, kind in ((access, "access"), (refresh_claims, "refresh")):
        assert claims["type"] == kind
        assert claims["sub"] == str(user.id)
        assert {"sid", "iat", "exp", "jti"} <= claims.keys()
    assert access["sid"] == refresh_claims["sid"]
    assert access["exp"] - access["iat"] == 30 * 60
    assert access["jti"] != refresh_claims["jti"]


def test_current_user_costs_one_indexed_query(client: TestClient, user: Account) -> None:
    database = app_state(client.app).database
    with recorded_statements(database.engine, database.reading) as statements:
        assert me_status(client, user.access_token) == 200
    assert len(statements) == 1, statements
    sql = " ".join(statements[0].lower().split())
    assert "from users join sessions on sessions.user_id = users.id" in sql
    assert "sessions.id =" in sql
    assert "users.id =" in sql
    assert "sessions.revoked_at is null" in sql
    assert "users.is_active is" in sql


def test_refresh_rotates_and_keeps_the_session_live(client: TestClient, user: Account) -> None:
    response = refresh(client, user.refresh_token)
    assert response.status_code == 200
    pair = response.json()
    assert pair["tokenType"] == "bearer"
    assert pair["expiresIn"] == 1800
    assert pair["refreshToken"] != user.refresh_token
    assert session_id(pair["accessToken"]) == session_id(user.access_token)
    assert me_status(client, pair["accessToken"]) == 200
    assert me_status(client, user.access_token) == 200  # older access tokens live on
    assert refresh(client, pair["refreshToken"]).status_code == 200


def test_reusing_a_spent_refresh_token_revokes_the_session(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    client = make_client(refresh_grace_seconds=0)  # test_refresh_grace.py: with a window
    rotated = refresh(client, user.refresh_token).json()
    assert_unauthorized(refresh(client, user.refresh_token))
    assert refresh(client, rotated["refreshToken"]).status_code == 401
    assert me_status(client, rotated["accessToken"]) == 401
    assert me_status(client, user.access_token) == 401


def test_reuse_revokes_only_that_session(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    client = make_client(refresh_grace_seconds=0)
    second = login(client, user.email)
    refresh(client, user.refresh_token)
    assert refresh(client, user.refresh_token).status_code == 401
    assert me_status(client, second["accessToken"]) == 200
    assert refresh(client, second["refreshToken"]).status_code == 200


def test_refresh_updates_last_used_and_extends_expiry(
    client: TestClient, db: Session, user: Account
) -> None:
    row = db.get(AuthSession, session_id(user.access_token))
    assert row is not None
    before = row.model_dump()
    refresh(client, user.refresh_token)
    db.refresh(row)
    assert row.last_used_at > before["last_used_at"]
    assert row.expires_at > before["expires_at"]
    assert row.refresh_token_hash != before["refresh_token_hash"]


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda account: account.access_token, id="access-token"),
        pytest.param(lambda account: "not-a-jwt", id="garbage"),
        pytest.param(lambda account: account.refresh_token + "x", id="bad-signature"),
        pytest.param(
            lambda account: jwt.encode(
                unverified_claims(account.refresh_token),
                "another-secret-key-of-sufficient-length",
                algorithm="HS256",
            ),
            id="foreign-key",
        ),
    ],
)
def test_refresh_refuses_tokens_that_are_not_live_refresh_tokens(
    client: TestClient, user: Account, make_token: Callable[[Account], str]
) -> None:
    response = refresh(client, make_token(user))
    assert response.status_code == 401
    assert response.json() == error_body(ErrorCode.REFRESH_TOKEN_INVALID)
    assert refresh(client, user.refresh_token).status_code == 200  # session unharmed


def test_expired_refresh_token_is_refused(client: TestClient, user: Account) -> None:
    expired = session_token(
        client,
        "refresh",
        user_id=user.id,
        session_id=session_id(user.refresh_token),
        expires_in=-timedelta(seconds=1),
    )
    assert refresh(client, expired).status_code == 401


def test_expired_session_refuses_tokens(client: TestClient, db: Session, user: Account) -> None:
    row = db.get(AuthSession, session_id(user.access_token))
    assert row is not None
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.add(row)
    db.commit()
    assert me_status(client, user.access_token) == 401
    assert refresh(client, user.refresh_token).status_code == 401


def test_logout_stops_the_session_at_once(client: TestClient, user: Account) -> None:
    other_device = login(client, user.email)
    response = client.post(f"{API}/auth/logout", headers=user.headers)
    assert response.status_code == 204
    assert me_status(client, user.access_token) == 401
    assert refresh(client, user.refresh_token).status_code == 401
    assert me_status(client, other_device["accessToken"]) == 200


def test_logout_all_stops_every_session(
    client: TestClient, user: Account, other_user: Account
) -> None:
    second = login(client, user.email)
    assert client.post(f"{API}/auth/logout-all", headers=user.headers).status_code == 204
    for token in (user.access_token, second["accessToken"]):
        assert me_status(client, token) == 401
    assert refresh(client, second["refreshToken"]).status_code == 401
    assert me_status(client, other_user.access_token) == 200


def test_sessions_list_shows_live_sessions_and_marks_the_current(
    client: TestClient, user: Account, other_user: Account
) -> None:
    second = login(client, user.email)
    third = login(client, user.email)
    client.post(f"{API}/auth/logout", headers=bearer(third["accessToken"]))
    response = client.get(f"{API}/auth/sessions", headers=bearer(second["accessToken"]))
    assert response.status_code == 200
    sessions = response.json()
    assert [s["id"] for s in sessions] == [
        str(session_id(second["accessToken"])),
        str(session_id(user.access_token)),
    ]
    assert [s["current"] for s in sessions] == [True, False]
    assert set(sessions[0]) == {
        "id",
        "createdAt",
        "lastUsedAt",
        "expiresAt",
        "userAgent",
        "ipAddress",
        "current",
    }
    assert sessions[0]["userAgent"] == "testclient"
    assert sessions[0]["expiresAt"].endswith("Z") or "+00:00" in sessions[0]["expiresAt"]


def test_revoking_one_of_my_sessions(client: TestClient, user: Account) -> None:
    second = login(client, user.email)
    target = session_id(second["accessToken"])
    assert revoke(client, user, target).status_code == 204
    assert me_status(client, second["accessToken"]) == 401
    assert me_status(client, user.access_token) == 200
    assert revoke(client, user, target).status_code == 404


def test_revoking_someone_elses_or_an_unknown_session_is_404(
    client: TestClient, user: Account, other_user: Account
) -> None:
    for target in (session_id(other_user.access_token), uuid.uuid4()):
        response = revoke(client, user, target)
        assert response.status_code == 404
        assert response.json() == error_body(ErrorCode.SESSION_NOT_FOUND)
    assert me_status(client, other_user.access_token) == 200
    assert revoke(client, user, "not-a-uuid").status_code == 422


def test_deactivating_in_the_database_stops_existing_tokens(
    client: TestClient, db: Session, user: Account
) -> None:
    row = db.get(User, user.id)
    assert row is not None
    row.is_active = False
    db.add(row)
    db.commit()
    assert me_status(client, user.access_token) == 401
    assert refresh(client, user.refresh_token).status_code == 401


def test_deleted_user_tokens_stop_working(client: TestClient, db: Session, user: Account) -> None:
    row = db.get(User, user.id)
    db.delete(row)
    db.commit()
    assert me_status(client, user.access_token) == 401
    assert refresh(client, user.refresh_token).status_code == 401


def test_sign_in_deletes_the_users_dead_sessions(
    client: TestClient, db: Session, user: Account, other_user: Account
) -> None:
    dead = login(client, user.email)
    client.post(f"{API}/auth/logout", headers=bearer(dead["accessToken"]))
    expired = db.get(AuthSession, session_id(user.access_token))
    assert expired is not None
    expired.expires_at = utcnow() - timedelta(minutes=1)
    db.add(expired)
    db.commit()
    other_dead = login(client, other_user.email)
    client.post(f"{API}/auth/logout", headers=bearer(other_dead["accessToken"]))

    fresh = login(client, user.email)
    db.expire_all()
    user_sessions = db.exec(select(AuthSession.id).where(col(AuthSession.user_id) == user.id)).all()
    assert user_sessions == [session_id(fresh["accessToken"])]
    # Another user's dead sessions wait for their own sign-in or `cleanup`.
    assert db.get(AuthSession, session_id(other_dead["accessToken"])) is not None


def test_a_session_from_the_token_of_another_user_is_refused(
    client: TestClient, user: Account, other_user: Account
) -> None:
    forged = session_token(
        client,
        "access",
        user_id=user.id,
        session_id=session_id(other_user.access_token),
        expires_in=timedelta(minutes=5),
    )
    assert me_status(client, forged) == 401
