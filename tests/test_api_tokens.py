"""Personal API tokens: shown once, stored hashed, scoped, and revoked at once."""

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.core.errors import ErrorCode
from app.models import ApiToken, Role
from app.services import api_tokens
from tests.helpers import API, PASSWORD, Account, bearer, error_body, login_status, race

TOKENS = f"{API}/users/me/tokens"


def make_token(client: TestClient, account: Account, *scopes: str, **extra: Any) -> dict[str, Any]:
    body = {"name": "script", "scopes": list(scopes or ["read"]), **extra}
    response = client.post(TOKENS, json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_a_token_is_shown_once_and_stored_as_a_hash(
    client: TestClient, user: Account, db: Session
) -> None:
    created = make_token(client, user, "read", "write")
    token = created["token"]
    assert api_tokens.well_formed(token)
    assert token.startswith("sqa_pat_")
    assert len(token) == 8 + 43 + 6
    assert created["prefix"] == token[:12]
    assert created["last4"] == token[-4:]
    assert created["scopes"] == ["read", "write"]

    [row] = db.exec(select(ApiToken)).all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(row.model_dump())
    listed = client.get(TOKENS, headers=user.headers).json()
    assert [entry["id"] for entry in listed] == [created["id"]]
    assert "token" not in listed[0]


def test_a_token_acts_as_its_owner(client: TestClient, user: Account) -> None:
    token = make_token(client, user, "read")["token"]
    me = client.get(f"{API}/users/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == user.email


def test_a_read_token_may_not_write(client: TestClient, user: Account) -> None:
    read_only = make_token(client, user, "read")["token"]
    write = make_token(client, user, "write")["token"]
    item = {"title": "From a script"}
    refused = client.post(f"{API}/items", json=item, headers=bearer(read_only))
    assert refused.status_code == 403
    assert refused.json() == error_body(ErrorCode.API_TOKEN_SCOPE)
    assert client.post(f"{API}/items", json=item, headers=bearer(write)).status_code == 201
    assert client.get(f"{API}/items", headers=bearer(read_only)).status_code == 200


def test_admin_power_needs_the_scope_and_the_role_right_now(
    client: TestClient, admin: Account, make_account: Callable[..., Account]
) -> None:
    make_account(role=Role.ADMIN)  # so the admin may be demoted
    without = make_token(client, admin, "read")["token"]
    scoped = make_token(client, admin, "read", "admin")["token"]
    assert client.get(f"{API}/users", headers=bearer(without)).status_code == 403
    assert client.get(f"{API}/users", headers=bearer(scoped)).status_code == 200

    demote = client.patch(f"{API}/users/{admin.id}", json={"role": "USER"}, headers=admin.headers)
    assert demote.status_code == 200, demote.text
    assert client.get(f"{API}/users/me", headers=bearer(without)).status_code == 200
    assert client.get(f"{API}/users", headers=bearer(scoped)).status_code == 401


def test_a_promotion_revives_no_admin_token(
    client: TestClient, admin: Account, make_account: Callable[..., Account]
) -> None:
    other = make_account(role=Role.ADMIN)
    scoped = make_token(client, other, "read", "admin")["token"]
    url = f"{API}/users/{other.id}"
    assert client.patch(url, json={"role": "USER"}, headers=admin.headers).status_code == 200
    assert client.patch(url, json={"role": "ADMIN"}, headers=admin.headers).status_code == 200
    assert client.get(f"{API}/users", headers=bearer(scoped)).status_code == 401


def test_a_revoked_token_is_refused_at_once(client: TestClient, user: Account) -> None:
    created = make_token(client, user)
    assert client.get(f"{API}/users/me", headers=bearer(created["token"])).status_code == 200
    revoked = client.delete(f"{TOKENS}/{created['id']}", headers=user.headers)
    assert revoked.status_code == 204
    assert client.get(f"{API}/users/me", headers=bearer(created["token"])).status_code == 401
    again = client.delete(f"{TOKENS}/{created['id']}", headers=user.headers)
    assert again.json() == error_body(ErrorCode.API_TOKEN_NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/users/me/tokens", None),
        ("POST", "/users/me/tokens", {"name": "another", "scopes": ["read"]}),
        ("PATCH", "/users/me/password", {"currentPassword": PASSWORD, "newPassword": "x" * 12}),
        ("PATCH", "/users/me", {"email": "moved@example.com", "currentPassword": PASSWORD}),
        ("GET", "/auth/sessions", None),
        ("POST", "/auth/logout", None),
        ("POST", "/auth/logout-all", None),
    ],
)
def test_a_token_cannot_manage_tokens_password_email_or_sessions(
    client: TestClient, user: Account, method: str, path: str, body: dict[str, Any] | None
) -> None:
    token = make_token(client, user, "read", "write", "admin")["token"]
    response = client.request(method, API + path, json=body, headers=bearer(token))
    assert response.status_code == 403, response.text
    assert response.json() == error_body(ErrorCode.API_TOKEN_NOT_ALLOWED)


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PATCH", {"password": "taken over at last"}),
        ("PATCH", {"email": "taker@example.com"}),
        ("PATCH", {"name": "Renamed by a script"}),  # the token's own account
        ("DELETE", None),
    ],
)
def test_an_admin_token_never_takes_its_owners_account(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    method: str,
    body: dict[str, Any] | None,
) -> None:
    make_account(role=Role.ADMIN)  # so deleting the admin would not be LAST_ADMIN
    token = make_token(client, admin, "read", "write", "admin")["token"]
    response = client.request(method, f"{API}/users/{admin.id}", json=body, headers=bearer(token))
    assert response.status_code == 403, response.text
    assert response.json() == error_body(ErrorCode.API_TOKEN_NOT_ALLOWED)
    assert client.get(f"{API}/users/me", headers=admin.headers).json()["email"] == admin.email
    assert login_status(client, admin.email) == 200


@pytest.mark.parametrize(
    ("method", "body", "allowed"),
    [
        ("PATCH", {"password": "set by a script"}, False),
        ("PATCH", {"email": "elsewhere@example.com"}, False),
        ("DELETE", None, False),
        ("PATCH", {"name": "Renamed by a script", "role": "ADMIN"}, True),
    ],
)
def test_an_admin_token_sets_no_password_or_email_and_deletes_no_one(
    client: TestClient,
    admin: Account,
    user: Account,
    method: str,
    body: dict[str, Any] | None,
    allowed: bool,
) -> None:
    token = make_token(client, admin, "read", "write", "admin")["token"]
    response = client.request(method, f"{API}/users/{user.id}", json=body, headers=bearer(token))
    if allowed:
        assert response.status_code == 200, response.text
        assert response.json()["role"] == "ADMIN"
        return
    assert response.status_code == 403, response.text
    assert response.json() == error_body(ErrorCode.API_TOKEN_NOT_ALLOWED)
    assert login_status(client, user.email) == 200


def test_a_token_does_not_delete_its_owner(client: TestClient, user: Account) -> None:
    token = make_token(client, user, "read", "write")["token"]
    refused = client.delete(f"{API}/users/me", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json() == error_body(ErrorCode.API_TOKEN_NOT_ALLOWED)
    assert client.get(f"{API}/users/me", headers=bearer(token)).status_code == 200
    assert client.delete(f"{API}/users/me", headers=user.headers).status_code == 204


def test_an_admin_call_without_the_scope_is_recorded(
    client: TestClient, admin: Account, user: Account
) -> None:
    for owner in (admin, user):
        token = make_token(client, owner, "read", "write")["token"]
        refused = client.get(f"{API}/users", headers=bearer(token))
        assert refused.status_code == 403
        assert refused.json() == error_body(ErrorCode.API_TOKEN_SCOPE)
        events = client.get(
            f"{API}/audit-events",
            params={"action": "admin.forbidden", "actorId": str(owner.id)},
            headers=admin.headers,
        ).json()["items"]
        assert [(event["outcome"], event["actorKind"]) for event in events] == [
            ("denied", "api_token")
        ]


def test_the_token_limit_holds_when_tokens_are_created_at_once(
    client: TestClient, user: Account, db: Session
) -> None:
    body: dict[str, Any] | None = {"name": "burst", "scopes": ["read"]}
    statuses = race(client, [("POST", TOKENS, user, body)] * 2 * api_tokens.MAX_PER_USER)
    assert sorted(statuses) == [201] * api_tokens.MAX_PER_USER + [409] * api_tokens.MAX_PER_USER
    db.commit()
    live = db.exec(select(ApiToken).where(col(ApiToken.revoked_at).is_(None))).all()
    assert len(live) == api_tokens.MAX_PER_USER


def test_deactivation_deletion_and_reset_revoke_tokens(
    client: TestClient, admin: Account, make_account: Callable[..., Account]
) -> None:
    member = make_account()
    token = make_token(client, member, "read")["token"]
    url = f"{API}/users/{member.id}"
    assert client.patch(url, json={"isActive": False}, headers=admin.headers).status_code == 200
    assert client.patch(url, json={"isActive": True}, headers=admin.headers).status_code == 200
    assert client.get(f"{API}/users/me", headers=bearer(token)).status_code == 401

    other = make_account()
    kept = make_token(client, other, "read")["token"]
    assert client.delete(f"{API}/users/{other.id}", headers=admin.headers).status_code == 204
    assert client.get(f"{API}/users/me", headers=bearer(kept)).status_code == 401


@pytest.mark.parametrize(
    "value",
    [
        "sqa_pat_" + "A" * 49,  # a checksum that does not match
        "sqa_pat_short",
        "sqa_pat_" + "!" * 49,
        "well formed, but no such token",
    ],
)
def test_malformed_and_unknown_tokens_are_401(client: TestClient, value: str) -> None:
    if value.startswith("well formed"):
        value = api_tokens.generate()
    response = client.get(f"{API}/users/me", headers=bearer(value))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_expiry_is_required_bounded_and_the_number_of_tokens_too(
    client: TestClient, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    too_long = {"name": "x", "scopes": ["read"], "expiresInDays": 366}
    assert client.post(TOKENS, json=too_long, headers=user.headers).status_code == 422
    created = make_token(client, user, "read", expiresInDays=1)
    assert created["expiresAt"] > created["createdAt"]
    monkeypatch.setattr(api_tokens, "MAX_PER_USER", 2)
    make_token(client, user)
    over = client.post(TOKENS, json={"name": "x", "scopes": ["read"]}, headers=user.headers)
    assert over.status_code == 409
    assert over.json() == error_body(ErrorCode.API_TOKEN_LIMIT)


def test_admins_list_and_revoke_anyones_tokens(
    client: TestClient, admin: Account, user: Account
) -> None:
    created = make_token(client, user)
    listed = client.get(f"{API}/users/{user.id}/tokens", headers=admin.headers)
    assert [entry["id"] for entry in listed.json()] == [created["id"]]
    revoked = client.delete(f"{API}/users/{user.id}/tokens/{created['id']}", headers=admin.headers)
    assert revoked.status_code == 204
    assert client.get(f"{API}/users/me", headers=bearer(created["token"])).status_code == 401


def test_last_used_is_written_at_most_once_an_hour(
    client: TestClient, user: Account, db: Session
) -> None:
    token = make_token(client, user)["token"]
    for _ in range(3):
        assert client.get(f"{API}/users/me", headers=bearer(token)).status_code == 200
    db.commit()
    [row] = db.exec(select(ApiToken)).all()
    first_use = row.last_used_at
    assert first_use is not None
    client.get(f"{API}/users/me", headers=bearer(token))
    db.commit()
    db.refresh(row)
    assert row.last_used_at == first_use
