"""Hostile and malformed input: every answer is a 4xx, never a 500, on both databases.

Each test sends one kind of bad input to every endpoint (and every field) it applies
to, through a client that turns unhandled errors into 500 responses instead of
raising, and collects every answer that is not a 4xx. Afterwards the database must
still work and hold exactly what it held before: a refused request stores nothing.
"""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.helpers import API, PASSWORD, TEST_SECRET, Account, bearer
from tests.test_items import create_item

MAX_BODY = 1024 * 1024
HUGE = 100_000

# The state that no refused request may change (login throttling may count failures).
SNAPSHOT_QUERIES = (
    "SELECT id, email, name, role, is_active, password_hash, created_at, updated_at"
    " FROM users ORDER BY id",
    "SELECT id, owner_id, title, description, created_at, updated_at FROM items ORDER BY id",
    "SELECT id, user_id, refresh_token_hash, expires_at, revoked_at FROM sessions ORDER BY id",
)


@dataclass(frozen=True)
class Endpoint:
    """An endpoint taking a body, the account calling it, and a valid body for it."""

    label: str
    method: str
    path: str
    who: Account | None
    body: dict[str, Any]
    form: bool = False


@dataclass
class Hostile:
    """A client that answers 500 instead of raising, the accounts, an item, a record."""

    client: TestClient
    engine: Engine
    user: Account
    admin: Account
    item_id: str
    snapshot: list[list[tuple[Any, ...]]] = field(default_factory=list)
    answers: list[tuple[str, int, str]] = field(default_factory=list)

    def send(self, label: str, method: str, url: str, who: Account | None, **kw: Any) -> None:
        """Send a request and record its answer under `label`."""
        headers = {**(bearer(who.access_token) if who else {}), **kw.pop("headers", {})}
        response = self.client.request(method, url, headers=headers, **kw)
        self.answers.append((label, response.status_code, response.text[:200]))

    def not_4xx(self) -> list[tuple[str, int, str]]:
        """Every recorded answer that is not a 4xx."""
        assert self.answers, "no request was sent"
        return [answer for answer in self.answers if not 400 <= answer[1] < 500]

    def endpoints(self) -> list[Endpoint]:
        """Every endpoint with a body, each with a valid body for this test's accounts."""
        user, admin = self.user, self.admin
        new_password = PASSWORD + "!"
        return [
            Endpoint(
                "register",
                "POST",
                "/auth/register",
                None,
                {"email": "new@example.com", "password": PASSWORD, "name": "New"},
            ),
            Endpoint(
                "login", "POST", "/auth/login", None, {"email": user.email, "password": PASSWORD}
            ),
            Endpoint(
                "token",
                "POST",
                "/auth/token",
                None,
                {"username": user.email, "password": PASSWORD},
                form=True,
            ),
            Endpoint(
                "refresh", "POST", "/auth/refresh", None, {"refreshToken": user.refresh_token}
            ),
            Endpoint("reset", "POST", "/auth/password-reset", None, {"email": user.email}),
            Endpoint(
                "reset-confirm",
                "POST",
                "/auth/password-reset/confirm",
                None,
                {"token": "not-a-token", "newPassword": new_password},
            ),
            Endpoint(
                "users-create",
                "POST",
                "/users",
                admin,
                {
                    "email": "made@example.com",
                    "password": PASSWORD,
                    "name": "Made",
                    "role": "USER",
                    "isActive": True,
                },
            ),
            Endpoint(
                "me-update",
                "PATCH",
                "/users/me",
                user,
                {"email": "renamed@example.com", "name": "Renamed"},
            ),
            Endpoint(
                "me-password",
                "PATCH",
                "/users/me/password",
                user,
                {"currentPassword": PASSWORD, "newPassword": new_password},
            ),
            Endpoint(
                "users-update",
                "PATCH",
                f"/users/{user.id}",
                admin,
                {
                    "email": "changed@example.com",
                    "name": "Changed",
                    "password": new_password,
                    "role": "ADMIN",
                    "isActive": False,
                },
            ),
            Endpoint(
                "items-create",
                "POST",
                "/items",
                user,
                {"title": "New item", "description": "Text"},
            ),
            Endpoint(
                "items-update",
                "PATCH",
                f"/items/{self.item_id}",
                user,
                {"title": "Changed", "description": "Changed"},
            ),
        ]

    def send_json_text(self, endpoint: Endpoint, label: str, body: str) -> None:
        """Send `body` (JSON text, written as is) to a JSON endpoint."""
        self.send(
            f"{endpoint.label}: {label}",
            endpoint.method,
            f"{API}{endpoint.path}",
            endpoint.who,
            content=body.encode("utf-8", "surrogatepass"),
            headers={"Content-Type": "application/json"},
        )

    def send_form(self, endpoint: Endpoint, label: str, fields: dict[str, str]) -> None:
        """Send `fields` form-encoded (lone surrogates as their raw UTF-8 bytes)."""
        self.send(
            f"{endpoint.label}: {label}",
            endpoint.method,
            f"{API}{endpoint.path}",
            endpoint.who,
            content=urlencode(fields, errors="surrogatepass").encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )


def take_snapshot(engine: Engine) -> list[list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return [
            [tuple(row) for row in connection.execute(text(query))] for query in SNAPSHOT_QUERIES
        ]


@pytest.fixture
def hostile(client: TestClient, engine: Engine, user: Account, admin: Account) -> Iterator[Hostile]:
    """The test's hostile client; after the test, the database is checked."""
    item_id = create_item(client, user, "Kept")["id"]
    safe = TestClient(client.app, raise_server_exceptions=False)
    state = Hostile(safe, engine, user, admin, item_id)
    state.snapshot = take_snapshot(engine)
    yield state
    assert_still_usable(state)


def assert_still_usable(state: Hostile) -> None:
    """Nothing was stored by the refused requests, and the database still works."""
    assert take_snapshot(state.engine) == state.snapshot
    client, user, admin = state.client, state.user, state.admin
    me = client.get(f"{API}/users/me", headers=user.headers)
    assert me.status_code == 200, me.text
    create_item(client, user, "After")
    listed = client.get(f"{API}/items", params={"q": "After"}, headers=admin.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == 1
    signed_in = client.post(f"{API}/auth/login", json={"email": admin.email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text


# Hostile strings in every string field


def hostile_string(kind: str, name: str, valid: str) -> str:
    """`valid` spoiled by `kind` (emails keep their shape: the spoiling is in the name)."""
    if kind == "huge":
        return "a" * HUGE + "@example.com" if name in {"email", "username"} else "a" * HUGE
    bad = {"nul": "\u0000", "high-surrogate": "\ud800", "low-surrogate": "\udfff"}[kind]
    return valid[:1] + bad + valid[1:]


@pytest.mark.parametrize("kind", ["nul", "high-surrogate", "low-surrogate", "huge"])
def test_hostile_strings_in_every_field(hostile: Hostile, kind: str) -> None:
    for endpoint in hostile.endpoints():
        for name, valid in endpoint.body.items():
            if not isinstance(valid, str):
                continue
            spoiled = {**endpoint.body, name: hostile_string(kind, name, valid)}
            if endpoint.form:
                hostile.send_form(endpoint, name, spoiled)
            else:
                # json.dumps writes NUL as \u0000 and a lone surrogate as \ud800: raw
                # escapes in the JSON text, which the server's JSON parser accepts.
                hostile.send_json_text(endpoint, name, json.dumps(spoiled))

    assert hostile.not_4xx() == []
    assert len(hostile.answers) == 27  # every string field of every endpoint


def test_nul_only_values(hostile: Hostile) -> None:
    for endpoint in hostile.endpoints():
        for name, valid in endpoint.body.items():
            if not isinstance(valid, str) or endpoint.form:
                continue
            for label, value in (("nul-only", "\u0000"), ("nuls", "\u0000" * 1000)):
                spoiled = {**endpoint.body, name: value}
                hostile.send_json_text(endpoint, f"{name} {label}", json.dumps(spoiled))

    assert hostile.not_4xx() == []


# Numbers and other types where strings or booleans are expected


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_in_every_field(hostile: Hostile, token: str) -> None:
    for endpoint in hostile.endpoints():
        if endpoint.form:
            continue
        for name in endpoint.body:
            body = json.dumps({**endpoint.body, name: "__HOSTILE__"})
            hostile.send_json_text(endpoint, name, body.replace('"__HOSTILE__"', token))

    assert hostile.not_4xx() == []
    assert len(hostile.answers) == 27  # every field of every JSON endpoint


def test_wrong_types_in_string_fields(hostile: Hostile) -> None:
    for token in ("12", "1.5", "true", "{}", "[]", '["a"]', '{"$gt": ""}'):
        for endpoint in hostile.endpoints():
            if endpoint.form:
                continue
            for name, valid in endpoint.body.items():
                if not isinstance(valid, str):
                    continue
                body = json.dumps({**endpoint.body, name: "__HOSTILE__"})
                hostile.send_json_text(
                    endpoint, f"{name}={token}", body.replace('"__HOSTILE__"', token)
                )

    assert hostile.not_4xx() == []


# Bodies that are not a JSON object, or not JSON at all


DUPLICATE_KEYS = ("email", "name", "title", "refreshToken", "token", "currentPassword")
BODIES = {
    "list": b"[]",
    "list-of-object": b'[{"email": "user@example.com", "password": "correct horse battery"}]',
    "number": b"42",
    "string": b'"text"',
    "null": b"null",
    "true": b"true",
    "invalid-json": b'{"email": ',
    "trailing-garbage": b"{} garbage",
    "single-quotes": b"{'email': 'user@example.com'}",
    # The last of duplicate keys wins: a wrong type after a right one (a key for each body).
    "duplicate-keys": (
        "{" + ", ".join(f'"{key}": "user@example.com", "{key}": []' for key in DUPLICATE_KEYS) + "}"
    ).encode(),
    "invalid-utf8": b'{"email": "\xff\xfe@example.com", "title": "\xc3\x28"}',
    "raw-nul-bytes": b"\x00" * 16,
    "nested-open-arrays": b"[" * 100_000,
    "nested-closed-arrays": b"[" * 50_000 + b"]" * 50_000,
    "nested-objects": b'{"a":' * 100_000,
    "nested-arrays-1mib": b"[" * MAX_BODY,
    "empty": b"",
}


@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
def test_bodies_that_are_not_a_json_object(hostile: Hostile, body: bytes) -> None:
    for endpoint in hostile.endpoints():
        hostile.send(
            endpoint.label,
            endpoint.method,
            f"{API}{endpoint.path}",
            endpoint.who,
            content=body,
            headers={"Content-Type": "application/json"},
        )

    assert hostile.not_4xx() == []


WRONG_CONTENT_TYPES = (
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/octet-stream",
)


def test_a_valid_json_body_under_a_wrong_content_type(hostile: Hostile) -> None:
    for content_type in WRONG_CONTENT_TYPES:
        for endpoint in hostile.endpoints():
            if endpoint.form:
                continue
            hostile.send(
                f"{endpoint.label} as {content_type}",
                endpoint.method,
                f"{API}{endpoint.path}",
                endpoint.who,
                content=json.dumps(endpoint.body).encode(),
                headers={"Content-Type": content_type},
            )

    assert hostile.not_4xx() == []


def test_the_token_form_endpoint_refuses_json_and_empty_forms(hostile: Hostile) -> None:
    credentials = {"username": hostile.user.email, "password": PASSWORD}
    url = f"{API}/auth/token"
    hostile.send("json", "POST", url, None, json=credentials)
    hostile.send("empty form", "POST", url, None, data={})
    hostile.send(
        "multipart garbage",
        "POST",
        url,
        None,
        content=b"--x\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    hostile.send(
        "wrong grant type", "POST", url, None, data={**credentials, "grant_type": "\u0000"}
    )

    assert hostile.not_4xx() == []


# Path ids that are not UUIDs


PATH_IDS = {
    "word": ("abc", {422}),
    "nul": ("%00", {422}),
    "invalid-utf8": ("%ff%fe", {422}),
    "number": ("12345", {422}),
    "negative": ("-1", {422}),
    "almost-uuid": ("00000000-0000-0000-0000-00000000000g", {422}),
    "space": ("%20", {422}),
    "very-long": ("a" * 10_000, {422}),
    "very-long-hex": ("0" * 10_000, {422}),
    "dot-dot-slash": ("..%2F", set(range(400, 500))),
}


def test_path_ids_that_are_not_uuids(hostile: Hostile) -> None:
    user, admin = hostile.user, hostile.admin
    unexpected = []
    for case, (segment, expected) in PATH_IDS.items():
        for method, path, who in [
            ("GET", "/items", user),
            ("PATCH", "/items", user),
            ("DELETE", "/items", user),
            ("GET", "/items", admin),
            ("GET", "/users", admin),
            ("PATCH", "/users", admin),
            ("DELETE", "/users", admin),
            ("DELETE", "/auth/sessions", user),
        ]:
            body = {"json": {"title": "Changed"}} if method == "PATCH" else {}
            hostile.send(f"{method} {path}/<{case}>", method, f"{API}{path}/{segment}", who, **body)
            if hostile.answers[-1][1] not in expected:
                unexpected.append(hostile.answers[-1])

    assert hostile.not_4xx() == []
    assert unexpected == []


# Query values


QUERIES = {
    "offset-float": ("offset=1e3", ["users", "items"]),
    "offset-huge": ("offset=99999999999999999999", ["users", "items"]),
    "offset-negative": ("offset=-1", ["users", "items"]),
    "offset-nan": ("offset=NaN", ["users", "items"]),
    "offset-nul": ("offset=%00", ["users", "items"]),
    "limit-zero": ("limit=0", ["users", "items"]),
    "limit-over": ("limit=101", ["users", "items"]),
    "limit-word": ("limit=abc", ["users", "items"]),
    "limit-infinity": ("limit=Infinity", ["users", "items"]),
    "sort-bogus": ("sort=bogus", ["users", "items"]),
    "sort-dash": ("sort=-", ["users", "items"]),
    "sort-double-dash": ("sort=--createdAt", ["users", "items"]),
    "sort-sql": ("sort=createdAt;DROP TABLE users", ["users", "items"]),
    "sort-password": ("sort=password_hash", ["users"]),
    "q-nul": ("q=%00", ["users", "items"]),
    "q-nul-inside": ("q=ab%00cd", ["users", "items"]),
    "q-huge": ("q=" + "a" * 10_000, ["users", "items"]),
    "is-active-maybe": ("isActive=maybe", ["users"]),
    "is-active-nul": ("isActive=%00", ["users"]),
    "owner-id-not-uuid": ("ownerId=notauuid", ["items", "items-admin"]),
    "owner-id-nul": ("ownerId=%00", ["items", "items-admin"]),
    "role-root": ("role=root", ["users"]),
    "role-lowercase-nul": ("role=ADMIN%00", ["users"]),
}


def test_bad_query_values_are_refused(hostile: Hostile) -> None:
    callers = {
        "users": ("/users", hostile.admin),
        "items": ("/items", hostile.user),
        "items-admin": ("/items", hostile.admin),
    }
    for case, (query, lists) in QUERIES.items():
        for name in lists:
            path, who = callers[name]
            hostile.send(f"{name} {case}", "GET", f"{API}{path}?{query}", who)

    assert len(hostile.answers) == sum(len(lists) for _, lists in QUERIES.values())
    assert [answer for answer in hostile.answers if answer[1] != 422] == []


# Authorization headers


def forged(claims: dict[str, Any]) -> str:
    """A token signed with the test key carrying odd claims."""
    now = datetime.now(UTC)
    payload = {
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "type": "access",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode(payload, TEST_SECRET, algorithm="HS256")


AUTHORIZATIONS = {
    "bearer-only": b"Bearer",
    "bearer-space": b"Bearer ",
    "basic": b"Basic dXNlcjpwYXNz",
    "three-dots": b"Bearer ...",
    "huge": b"Bearer " + b"a" * HUGE,
    "non-ascii": b"Bearer \xff\xfe\xfd",
    "alg-none": b"Bearer "
    + jwt.encode({"sub": "x", "type": "access"}, "", algorithm="none").encode(),
    "sub-not-uuid": b"Bearer " + forged({"sub": "notauuid"}).encode(),
    "sid-not-uuid": b"Bearer " + forged({"sid": "\u0000"}).encode(),
    "sid-number": b"Bearer " + forged({"sid": 12}).encode(),
    "type-list": b"Bearer " + forged({"type": ["access"]}).encode(),
    "huge-sub": b"Bearer " + forged({"sub": "a" * 10_000}).encode(),
}


def test_malformed_authorization_headers_are_401(hostile: Hostile) -> None:
    for case, value in AUTHORIZATIONS.items():
        for path in ("/users/me", "/items", "/users"):
            response = hostile.client.get(f"{API}{path}", headers={b"Authorization": value})
            challenge = response.headers.get("WWW-Authenticate")
            hostile.answers.append((f"{path} {case} {challenge}", response.status_code, ""))

    assert [answer for answer in hostile.answers if answer[1] != 401] == []
    assert [answer for answer in hostile.answers if not answer[0].endswith(" Bearer")] == []


def test_an_oversized_user_agent_is_recorded_truncated(hostile: Hostile) -> None:
    agent = b"Agent/\xe9\xff " + b"x" * HUGE
    response = hostile.client.post(
        f"{API}/auth/login",
        json={"email": hostile.user.email, "password": PASSWORD},
        headers={b"User-Agent": agent},
    )

    assert response.status_code == 200, response.text
    sessions = hostile.client.get(
        f"{API}/auth/sessions", headers=bearer(response.json()["accessToken"])
    )
    assert sessions.status_code == 200
    current = [session for session in sessions.json() if session["current"]]
    assert len(current) == 1
    assert current[0]["userAgent"].startswith("Agent/")
    assert len(current[0]["userAgent"]) <= 255
    # This sign-in did store a session: forget the snapshot's session list.
    hostile.snapshot[2] = take_snapshot(hostile.engine)[2]
