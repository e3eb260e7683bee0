"""The limit apps' HTTP side: a bare ASGI app over a `Store` that runs the SQL.

It decodes the same JWT with pyjwt, checks the session with the same query as the
service (through the store), and answers `GET /api/v1/users/me`, `GET /api/v1/items`
and `POST /api/v1/items` with the same JSON. The store's database calls block the
event loop, which is the cheapest way to make them.
"""

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

import jwt
from starlette.types import ASGIApp, Receive, Scope, Send

ME = "/api/v1/users/me"
ITEMS = "/api/v1/items"
Json = dict[str, Any]


class Store(Protocol):
    """The SQL of the benchmarked requests, on one database."""

    def signed_in(self, session_id: str, user_id: str) -> Json | None:
        """The user (as UserPublic JSON) whose live session `session_id` is, if any."""

    def items(self, owner_id: str, limit: int, offset: int) -> Json:
        """A page of the owner's items, newest first, as Page JSON."""

    def add_item(self, owner_id: str, title: str, description: str | None) -> Json:
        """Insert an item; the new item as ItemPublic JSON."""


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


Text = Callable[[Any], str]  # a driver's value (a UUID, a timestamp) as the service's JSON


def user_json(row: tuple[Any, ...], *, uuid_text: Text, time_text: Text) -> Json:
    """A users row of CURRENT_USER as UserPublic JSON."""
    user_id, email, name, role, is_active, verified_at, created_at, updated_at = row
    return {
        "email": email,
        "name": name,
        "id": uuid_text(user_id),
        "role": role,
        "isActive": bool(is_active),
        "emailVerified": verified_at is not None,
        "createdAt": time_text(created_at),
        "updatedAt": time_text(updated_at),
    }


def item_json(row: tuple[Any, ...], *, uuid_text: Text, time_text: Text) -> Json:
    """An items row as ItemPublic JSON."""
    item_id, title, description, owner_id, created_at, updated_at = row
    return {
        "title": title,
        "description": description,
        "id": uuid_text(item_id),
        "ownerId": uuid_text(owner_id),
        "createdAt": time_text(created_at),
        "updatedAt": time_text(updated_at),
    }


async def respond(send: Send, status: int, body: Json) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def lifespan(receive: Receive, send: Send) -> None:
    await receive()  # startup
    await send({"type": "lifespan.startup.complete"})
    await receive()  # shutdown
    await send({"type": "lifespan.shutdown.complete"})


async def read_body(receive: Receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def claims_of(scope: Scope, secret: str) -> dict[str, Any] | None:
    token = dict(scope["headers"]).get(b"authorization", b"").removeprefix(b"Bearer ")
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    return claims


async def answer(store: Store, scope: Scope, receive: Receive, user_id: str) -> tuple[int, Json]:
    """The status and body of a signed-in request."""
    if scope["method"] == "POST":
        body = json.loads(await read_body(receive))
        return 201, store.add_item(user_id, body["title"], body.get("description"))
    params = parse_qs(scope["query_string"].decode())
    limit, offset = int(params.get("limit", ["50"])[0]), int(params.get("offset", ["0"])[0])
    return 200, store.items(user_id, limit, offset)


# A signed-in request's handler: given the user's id and UserPublic JSON.
Handler = Callable[[Scope, Receive, Send, str, Json], Awaitable[None]]


def signed_in_app(store: Store, secret: str, handle: Handler) -> ASGIApp:
    """An ASGI app that answers the lifespan, refuses a request without a live session
    (401) as the service does, and hands the others to `handle`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        claims = claims_of(scope, secret)
        user = store.signed_in(claims["sid"], claims["sub"]) if claims else None
        if user is None or claims is None:
            await respond(send, 401, {"detail": "Could not validate credentials"})
        else:
            await handle(scope, receive, send, claims["sub"], user)

    return app


def limit_app(store: Store, secret: str) -> ASGIApp:
    """The ASGI app answering the benchmarked requests from `store`."""

    async def handle(scope: Scope, receive: Receive, send: Send, user_id: str, user: Json) -> None:
        if scope["path"] == ME:
            await respond(send, 200, user)
        elif scope["path"] == ITEMS:
            await respond(send, *await answer(store, scope, receive, user_id))
        else:
            await respond(send, 404, {"detail": "Not Found"})

    return signed_in_app(store, secret, handle)
