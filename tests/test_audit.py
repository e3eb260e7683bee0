"""The audit log: what is recorded, who may read it, and what it never holds."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select, update

from app.__main__ import main as cli
from app.core.config import get_settings
from app.models import AuditEvent, Role
from app.models.fields import utcnow
from tests.helpers import API, PASSWORD, Account, bearer, login, session_id

EVENTS = f"{API}/audit-events"


def events(client: TestClient, admin: Account, **params: Any) -> list[dict[str, Any]]:
    response = client.get(EVENTS, params={"limit": 100, **params}, headers=admin.headers)
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["items"]
    return listed


def test_sign_ins_are_recorded_and_failures_name_no_unknown_email(
    client: TestClient, admin: Account, user: Account
) -> None:
    client.post(f"{API}/auth/login", json={"email": user.email, "password": "wrong one"})
    client.post(f"{API}/auth/login", json={"email": "ghost@example.com", "password": "x" * 9})
    succeeded = events(client, admin, action="auth.login.succeeded", targetId=str(user.id))
    assert succeeded[0]["actorId"] == str(user.id)
    assert succeeded[0]["credentialId"] is not None  # the session, never a token
    failed = events(client, admin, action="auth.login.failed")
    known = [event for event in failed if event["targetId"] == str(user.id)]
    assert [event["reason"] for event in known] == ["bad_credentials"]
    assert known[0]["targetLabel"] == user.email
    unknown = [event for event in failed if event["targetId"] is None]
    assert len(unknown) == 1
    assert "ghost" not in str(unknown[0])


def test_a_role_change_records_before_and_after_with_the_actor(
    client: TestClient, admin: Account, user: Account
) -> None:
    url = f"{API}/users/{user.id}"
    assert client.patch(url, json={"role": "ADMIN"}, headers=admin.headers).status_code == 200
    [event] = events(client, admin, action="user.role_changed")
    assert event["changes"] == {"role": ["USER", "ADMIN"]}
    assert (event["actorId"], event["actorEmail"]) == (str(admin.id), admin.email)
    assert event["targetId"] == str(user.id)
    assert event["requestId"]
    assert event["actorKind"] == "user"


def test_a_revoked_session_names_its_owner(
    client: TestClient, admin: Account, user: Account
) -> None:
    target = session_id(user.access_token)
    url = f"{API}/auth/sessions/{target}"
    assert client.delete(url, headers=user.headers).status_code == 204
    [event] = events(client, admin, action="session.revoked")
    assert (event["targetType"], event["targetId"]) == ("session", str(target))
    assert (event["targetLabel"], event["actorEmail"]) == (user.email, user.email)


def test_the_actor_outlives_their_deletion(
    client: TestClient, admin: Account, make_account: Callable[..., Account]
) -> None:
    second = make_account(role=Role.ADMIN)
    victim = make_account()
    assert client.delete(f"{API}/users/{victim.id}", headers=second.headers).status_code == 204
    assert client.delete(f"{API}/users/me", headers=second.headers).status_code == 204
    [deleted] = events(client, admin, action="user.deleted", targetId=str(victim.id))
    assert deleted["actorId"] == str(second.id)
    assert deleted["actorEmail"] == second.email  # the snapshot stays


def test_a_password_change_is_recorded_as_the_word(
    client: TestClient, admin: Account, user: Account
) -> None:
    url = f"{API}/users/{user.id}"
    body = {"password": "a brand new password", "name": "Renamed"}
    assert client.patch(url, json=body, headers=admin.headers).status_code == 200
    changes = [event["changes"] for event in events(client, admin, action="user.updated")]
    assert {"password": "changed"} in changes
    assert {"name": ["User", "Renamed"]} in changes


def test_a_refused_admin_call_is_recorded(
    client: TestClient, admin: Account, user: Account
) -> None:
    assert client.get(f"{API}/users", headers=user.headers).status_code == 403
    assert client.delete(f"{API}/users/{admin.id}", headers=user.headers).status_code == 403
    refused = events(client, admin, action="admin.forbidden", actorId=str(user.id))
    assert [event["outcome"] for event in refused] == ["denied", "denied"]


def test_throttled_attempts_add_no_row(client: TestClient, admin: Account, user: Account) -> None:
    for _ in range(12):
        client.post(f"{API}/auth/login", json={"email": user.email, "password": "wrong"})
    failed = events(client, admin, action="auth.login.failed", targetId=str(user.id))
    assert len(failed) == 5  # the budget; the seven 429s recorded nothing


def test_only_admins_read_the_log_and_users_see_their_own(
    client: TestClient, admin: Account, user: Account, other_user: Account
) -> None:
    assert client.get(EVENTS, headers=user.headers).status_code == 403
    mine = client.get(f"{API}/users/me/security-events", headers=user.headers).json()["items"]
    assert mine
    for event in mine:
        assert str(user.id) in (event["actorId"], event["targetId"])
    assert client.post(EVENTS, json={}, headers=admin.headers).status_code == 405


@pytest.mark.parametrize(
    "value",
    ["0.5", "1733300000", "2026-12-04", "2026-12-04T10:00:00", "tomorrow", "2026-13-01T00:00:00Z"],
)
@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("path", ["/audit-events", "/users/me/security-events"])
def test_times_are_rfc_3339_with_an_offset(
    client: TestClient, admin: Account, path: str, name: str, value: str
) -> None:
    response = client.get(f"{API}{path}", params={name: value}, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", name]
    for valid in ("2026-12-04T10:00:00Z", "2026-12-04T10:00:00.5+01:00"):
        answered = client.get(f"{API}{path}", params={name: valid}, headers=admin.headers)
        assert answered.status_code == 200, answered.text


def test_the_log_filters_by_time_and_address(client: TestClient, admin: Account) -> None:
    now = utcnow()
    assert events(client, admin, since=(now + timedelta(minutes=5)).isoformat()) == []
    assert events(client, admin, until=(now - timedelta(minutes=5)).isoformat()) == []
    assert events(client, admin, ip="203.0.113.254") == []
    bad = client.get(EVENTS, params={"action": "not.an.action"}, headers=admin.headers)
    assert bad.status_code == 422


def test_api_tokens_act_as_api_tokens(client: TestClient, admin: Account, user: Account) -> None:
    created = client.post(
        f"{API}/users/me/tokens", json={"name": "ci", "scopes": ["write"]}, headers=user.headers
    ).json()
    client.post(f"{API}/items", json={"title": "x"}, headers=bearer(created["token"]))
    client.delete(f"{API}/users/me/tokens/{created['id']}", headers=user.headers)
    [made] = events(client, admin, action="api_token.created")
    assert made["targetId"] == created["id"]
    assert created["token"] not in str(made)
    assert events(client, admin, action="api_token.revoked")[0]["actorKind"] == "user"


def test_cleanup_prunes_past_retention(
    client: TestClient, admin: Account, db: Session, database_url: str, monkeypatch: Any
) -> None:
    login(client, admin.email)
    old = db.exec(select(AuditEvent.id)).first()
    assert old is not None
    db.exec(
        update(AuditEvent)
        .where(col(AuditEvent.id) == old)
        .values(occurred_at=utcnow() - timedelta(days=400))
    )
    db.commit()
    for name, value in {"DATABASE_URL": database_url, "ENVIRONMENT": "test"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert cli(["cleanup"]) == 0
    finally:
        get_settings.cache_clear()
    db.commit()
    remaining = db.exec(select(AuditEvent.id)).all()
    assert old not in remaining
    assert remaining
    assert all(isinstance(event_id, uuid.UUID) for event_id in remaining)


def test_a_sign_up_is_recorded_without_its_password(client: TestClient, admin: Account) -> None:
    body = {"email": "fresh@example.com", "password": PASSWORD}
    created = client.post(f"{API}/auth/register", json=body)
    assert created.status_code == 201
    [event] = events(client, admin, action="user.created", targetId=created.json()["id"])
    assert event["actorKind"] == "anonymous"
    assert PASSWORD not in str(events(client, admin))
