"""Who may call what: one row per route, one test per (route, caller).

Every route of the app is either listed in PUBLIC_ROUTES or has a row in ROWS
(checked against the app itself), so a new endpoint without a row fails the suite.
Each row carries a valid body, so only authorization decides the answer.
"""

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session, SQLModel

from app.models import Role, UserIdentity
from tests.attachment_support import PNG
from tests.helpers import API, PASSWORD, Account, bearer, login

CALLERS = ("anonymous", "user", "other_user", "admin")
DENIED = {401, 403, 404}
# Routes anyone may call: health checks, and the ways in (they prove who you are
# with a password, a refresh token or a reset token, never with an access token).
PUBLIC_ROUTES = {
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("GET", f"{API}/docs"),
    ("GET", f"{API}/docs/oauth2-redirect"),
    ("GET", f"{API}/redoc"),
    ("GET", "/account/reset-password"),  # the pages mailed links open: they post the token
    ("GET", "/account/verify-email"),
    ("POST", f"{API}/auth/register"),
    ("POST", f"{API}/auth/login"),
    ("POST", f"{API}/auth/token"),
    ("POST", f"{API}/auth/login/two-factor"),  # with the challenge of a right password
    ("POST", f"{API}/auth/refresh"),
    ("POST", f"{API}/auth/password-reset"),
    ("POST", f"{API}/auth/password-reset/confirm"),
    ("POST", f"{API}/auth/verify-email"),
    ("POST", f"{API}/auth/verify-email/resend"),
    # sign-in with a provider: the browser's round trip, and its single-use code
    ("GET", f"{API}/auth/providers"),
    ("GET", f"{API}/auth/providers/{{providerId}}/authorize"),
    ("GET", f"{API}/auth/providers/{{providerId}}/callback"),
    ("POST", f"{API}/auth/providers/exchange"),
}


@dataclass(frozen=True)
class Row:
    """A route and the status each signed-in caller gets (anonymous always gets 401)."""

    method: str
    path: str  # under API; placeholders {userId}, {sessionId} and those of OWNED
    user: int
    other_user: int
    admin: int
    body: dict[str, Any] | None = field(default=None, hash=False)
    files: dict[str, tuple[str, bytes, str]] | None = field(default=None, hash=False)  # multipart
    # placeholder -> the world's id to use instead of the one of the same name
    ids: dict[str, str] = field(default_factory=dict, hash=False)

    def expected(self, caller: str) -> int:
        return 401 if caller == "anonymous" else int(getattr(self, caller))

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


NEW_PASSWORD = "another long passphrase"


def csv_file(text: str) -> dict[str, tuple[str, bytes, str]]:
    """A CSV file to upload (the `file` field of an import)."""
    return {"file": ("rows.csv", text.encode(), "text/csv")}


# What `user` owns, created through the API for each case: {placeholder: (collection,
# body)}. A new resource that its creator owns adds its line here and its rows below.
OWNED = {
    "itemId": ("/items", {"title": "User's item"}),
    "tokenId": ("/users/me/tokens", {"name": "User's script", "scopes": ["read"]}),
}

# The owned rows, the session and the target user all belong to `user`'s side of the
# world: `user` owns them and the session; the target user is a third, plain account.
# Streams that never end on their own: an in-process client would wait forever for
# a 200, so here only their refusals are checked (below); who gets a 200 is tested
# against a real server (tests/test_live.py).
STREAMED_ROUTES = {("GET", f"{API}/live")}

ROWS = [
    Row("GET", "/users/me", 200, 200, 200),
    Row("PATCH", "/users/me", 200, 200, 200, {"name": "Renamed"}),
    Row(
        "PATCH",
        "/users/me/password",
        204,
        204,
        204,
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    ),
    Row("DELETE", "/users/me", 204, 204, 204),
    Row("GET", "/users", 403, 403, 200),
    Row("POST", "/users", 403, 403, 201, {"email": "new@example.com", "password": NEW_PASSWORD}),
    Row("GET", "/users/{userId}", 403, 403, 200),
    Row("PATCH", "/users/{userId}", 403, 403, 200, {"name": "Renamed", "role": "ADMIN"}),
    Row("DELETE", "/users/{userId}", 403, 403, 204),
    Row("GET", "/items", 200, 200, 200),
    Row("POST", "/items", 201, 201, 201, {"title": "New item"}),
    Row("GET", "/items/{itemId}", 200, 404, 200),
    Row("PATCH", "/items/{itemId}", 200, 404, 200, {"title": "Changed"}),
    Row("DELETE", "/items/{itemId}", 204, 404, 204),
    Row("GET", "/items/{itemId}/files", 200, 404, 200),
    Row(
        "POST", "/items/{itemId}/files", 201, 404, 201, files={"file": ("a.png", PNG, "image/png")}
    ),
    Row("GET", "/items/{itemId}/files/{fileId}", 200, 404, 200),
    Row("GET", "/items/{itemId}/files/{fileId}/content", 200, 404, 200),
    Row("DELETE", "/items/{itemId}/files/{fileId}", 204, 404, 204),
    Row("GET", "/items/export.csv", 200, 200, 200),
    Row("POST", "/items/import", 201, 201, 201, files=csv_file("title\r\nImported\r\n")),
    Row("GET", "/users/export.csv", 403, 403, 200),
    Row(
        "POST",
        "/users/import",
        403,
        403,
        201,
        files=csv_file(f"email,password\r\nimported@example.com,{NEW_PASSWORD}\r\n"),
    ),
    Row("GET", "/auth/sessions", 200, 200, 200),
    Row("DELETE", "/auth/sessions/{sessionId}", 204, 404, 404),
    Row("POST", "/auth/logout", 204, 204, 204),
    Row("POST", "/auth/logout-all", 204, 204, 204),
    Row("GET", "/audit-events", 403, 403, 200),
    Row("GET", "/users/me/security-events", 200, 200, 200),
    Row("GET", "/users/me/tokens", 200, 200, 200),
    Row("POST", "/users/me/tokens", 201, 201, 201, {"name": "Script", "scopes": ["read"]}),
    Row("DELETE", "/users/me/tokens/{tokenId}", 204, 404, 404),
    Row("GET", "/users/{userId}/tokens", 403, 403, 200),
    Row(
        "DELETE",
        "/users/{userId}/tokens/{tokenId}",
        403,
        403,
        204,
        ids={"tokenId": "targetTokenId"},
    ),
    # Nobody here has two-factor sign-in on or pending: 409 once authorized.
    Row("GET", "/users/me/two-factor", 200, 200, 200),
    Row("POST", "/users/me/two-factor", 201, 201, 201, {"currentPassword": PASSWORD}),
    Row("POST", "/users/me/two-factor/confirm", 409, 409, 409, {"code": "123456"}),
    Row(
        "POST",
        "/users/me/two-factor/disable",
        409,
        409,
        409,
        {"currentPassword": PASSWORD, "code": "123456"},
    ),
    Row("POST", "/users/{userId}/two-factor/reset", 403, 403, 409),
    Row("GET", "/users/me/identities", 200, 200, 200),
    Row("DELETE", "/users/me/identities/{identityId}", 204, 404, 404),
    Row("GET", "/users/{userId}/identities", 403, 403, 200),
]


@dataclass
class World:
    """Everything a row may need, made fresh for each case."""

    accounts: dict[str, Account]
    ids: dict[str, str]  # what the placeholders of a row's path stand for

    def url(self, row: Row) -> str:
        ids = {**self.ids, **{name: self.ids[key] for name, key in row.ids.items()}}
        return API + row.path.format(**ids)

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "anonymous" else self.accounts[caller].headers


@pytest.fixture
def world(
    client: TestClient,
    db: Session,
    user: Account,
    other_user: Account,
    admin: Account,
    make_account: Callable[..., Account],
) -> World:
    # A second active admin, so an admin deleting or changing an account is never
    # refused as "the last active admin": only authorization decides.
    make_account("second-admin@example.com", role=Role.ADMIN)
    target = make_account("target@example.com", name="Target")
    ids = {"userId": str(target.id)}
    for placeholder, (collection, body) in OWNED.items():
        created = client.post(API + collection, json=body, headers=user.headers)
        assert created.status_code == 201, created.text
        ids[placeholder] = created.json()["id"]
    item_file = {"file": ("user's.png", PNG, "image/png")}
    uploaded = client.post(
        f"{API}/items/{ids['itemId']}/files", files=item_file, headers=user.headers
    )
    assert uploaded.status_code == 201, uploaded.text
    ids["fileId"] = uploaded.json()["id"]
    second_sign_in = login(client, user.email)
    sessions = client.get(f"{API}/auth/sessions", headers=bearer(second_sign_in["accessToken"]))
    assert sessions.status_code == 200, sessions.text
    [ids["sessionId"]] = [entry["id"] for entry in sessions.json() if entry["current"]]
    target_token = client.post(
        f"{API}/users/me/tokens",
        json={"name": "Target's", "scopes": ["read"]},
        headers=target.headers,
    )
    assert target_token.status_code == 201, target_token.text
    ids["targetTokenId"] = target_token.json()["id"]
    identity = UserIdentity(user_id=user.id, provider="github", subject="user's")
    db.add(identity)  # as a first sign-in with GitHub would link it
    db.commit()
    ids["identityId"] = str(identity.id)
    return World(accounts={"user": user, "other_user": other_user, "admin": admin}, ids=ids)


def snapshot(db: Session) -> dict[str, list[Any]]:
    """Every row of every table: all a denied request could have touched (but the audit
    log, where a refusal may be recorded)."""
    db.rollback()
    rows = {
        table.name: list(db.execute(select(table).order_by(*table.primary_key.columns)))
        for table in SQLModel.metadata.sorted_tables
        if table.name != "audit_events"
    }
    db.commit()
    return rows


def _case_id(row: Row, caller: str) -> str:
    return f"{row.method} {row.path} as {caller}"


@pytest.mark.parametrize(
    ("row", "caller"),
    [pytest.param(row, caller, id=_case_id(row, caller)) for row in ROWS for caller in CALLERS],
)
def test_authorization_matrix(
    client: TestClient, db: Session, world: World, row: Row, caller: str
) -> None:
    before = snapshot(db)

    response = client.request(
        row.method, world.url(row), json=row.body, files=row.files, headers=world.headers(caller)
    )

    expected = row.expected(caller)
    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.headers.get("www-authenticate") == "Bearer"
    if expected in DENIED:
        assert isinstance(response.json()["detail"], str)
        assert snapshot(db) == before, "a refused request changed the database"


BAD_TOKENS = ("garbage", "refresh-token", "revoked", "unsigned", "alg-none", "not-bearer")


def bad_token_headers(client: TestClient, admin: Account, kind: str) -> dict[str, str]:
    """An Authorization header that must not authenticate anyone (built from the admin's
    tokens where it can be, so a hole would grant the most)."""
    if kind == "garbage":
        return bearer("not.a.jwt")
    if kind == "refresh-token":  # a refresh token is no access token
        return bearer(admin.refresh_token)
    if kind == "revoked":
        tokens = login(client, admin.email)
        logout = client.post(f"{API}/auth/logout", headers=bearer(tokens["accessToken"]))
        assert logout.status_code == 204, logout.text
        return bearer(tokens["accessToken"])
    if kind == "unsigned":  # the admin's access token with its signature cut off
        header, payload, _signature = admin.access_token.split(".")
        return bearer(f"{header}.{payload}.")
    if kind == "alg-none":  # the admin's claims, "signed" with algorithm none
        _header, payload, _signature = admin.access_token.split(".")
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        return bearer(f"{header}.{payload}.")
    assert kind == "not-bearer"
    return {"Authorization": f"Basic {admin.access_token}"}


@pytest.mark.parametrize("row", [pytest.param(row, id=f"{row.method} {row.path}") for row in ROWS])
def test_bad_tokens_are_401(client: TestClient, db: Session, world: World, row: Row) -> None:
    for kind in BAD_TOKENS:
        headers = bad_token_headers(client, world.accounts["admin"], kind)
        before = snapshot(db)

        response = client.request(
            row.method, world.url(row), json=row.body, files=row.files, headers=headers
        )

        assert response.status_code == 401, (kind, response.text)
        assert response.headers.get("www-authenticate") == "Bearer", kind
        assert snapshot(db) == before, kind


def _routes(client: TestClient) -> set[tuple[str, str]]:
    """(method, full path) of every path operation the app serves.

    Since FastAPI 0.137 `app.routes` holds included routers as lazy nodes, not their
    `APIRoute`s; `iter_route_contexts` flattens them (one context per endpoint).
    """
    app: FastAPI = client.app  # type: ignore[assignment]
    return {
        (method, re.sub(r":\w+}", "}", context.path or ""))  # `{itemId:row}` is `{itemId}`
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }


def test_every_route_is_public_or_has_a_row(client: TestClient) -> None:
    routes = _routes(client)
    table = {(method, API + path) for method, path in (row.key for row in ROWS)}

    assert len(routes) >= len(PUBLIC_ROUTES) + 18  # the discovery itself works
    assert routes >= PUBLIC_ROUTES, "a public route that does not exist"
    assert routes >= STREAMED_ROUTES, "a streamed route that does not exist"
    missing = routes - PUBLIC_ROUTES - STREAMED_ROUTES - table
    assert missing == set(), "routes without a row in the table"


@pytest.mark.parametrize("route", sorted(STREAMED_ROUTES))
def test_streams_refuse_anonymous_callers_and_bad_tokens(
    client: TestClient, admin: Account, route: tuple[str, str]
) -> None:
    method, path = route
    for headers in [{}, *(bad_token_headers(client, admin, kind) for kind in BAD_TOKENS)]:
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers.get("www-authenticate") == "Bearer"


def test_every_row_names_a_real_route(client: TestClient) -> None:
    keys = [(method, API + path) for method, path in (row.key for row in ROWS)]

    assert len(keys) == len(set(keys)), "duplicate rows"
    assert set(keys) - _routes(client) == set()
    assert set(keys) & PUBLIC_ROUTES == set(), "a route both public and guarded"
