"""The "limit" app: the least work the benchmarked requests need, as a bare ASGI app.

It decodes the same JWT with pyjwt, runs the same SQL with psycopg2 from a pool of
autocommit connections (blocking the event loop, which is cheapest) and returns the
same JSON as the service. Figures of the service are printed as ratios to this app,
served the same way in the same run.
"""

import json
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import jwt
from psycopg2.pool import ThreadedConnectionPool
from starlette.types import Receive, Scope, Send

SECRET = os.environ["JWT_SECRET_KEY"]
DSN = os.environ["LIMIT_DSN"]

CURRENT_USER = """
    SELECT users.id, users.email, users.name, users.role, users.is_active,
           users.created_at, users.updated_at
    FROM users JOIN sessions ON sessions.user_id = users.id
    WHERE sessions.id = %s AND users.id = %s AND sessions.revoked_at IS NULL
      AND sessions.expires_at > %s AND users.is_active
"""
COUNT_ITEMS = "SELECT count(*) FROM items WHERE owner_id = %s"
PAGE_OF_ITEMS = """
    SELECT id, title, description, owner_id, created_at, updated_at FROM items
    WHERE owner_id = %s ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s
"""

_pool: ThreadedConnectionPool | None = None


def pool() -> ThreadedConnectionPool:
    global _pool
    if _pool is None:
        _pool = ThreadedConnectionPool(1, 4, DSN)
    return _pool


def query(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    connection = pool().getconn()
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows
    finally:
        pool().putconn(connection)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def respond(send: Send, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def current_user(scope: Scope) -> tuple[Any, ...] | None:
    token = dict(scope["headers"]).get(b"authorization", b"").removeprefix(b"Bearer ")
    try:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    rows = query(CURRENT_USER, (claims["sid"], claims["sub"], datetime.now(UTC)))
    return rows[0] if rows else None


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await receive()  # startup
        await send({"type": "lifespan.startup.complete"})
        await receive()  # shutdown
        await send({"type": "lifespan.shutdown.complete"})
        return
    user = current_user(scope)
    if user is None:
        await respond(send, 401, {"detail": "Could not validate credentials"})
        return
    user_id, email, name, role, is_active, created_at, updated_at = user
    if scope["path"] == "/api/v1/users/me":
        await respond(
            send,
            200,
            {
                "email": email,
                "name": name,
                "id": str(user_id),
                "role": role,
                "isActive": is_active,
                "createdAt": iso(created_at),
                "updatedAt": iso(updated_at),
            },
        )
        return
    params = parse_qs(scope["query_string"].decode())
    limit, offset = int(params.get("limit", ["50"])[0]), int(params.get("offset", ["0"])[0])
    total = query(COUNT_ITEMS, (user_id,))[0][0]
    rows = query(PAGE_OF_ITEMS, (user_id, limit, offset))
    items = [
        {
            "title": title,
            "description": description,
            "id": str(item_id),
            "ownerId": str(owner_id),
            "createdAt": iso(item_created),
            "updatedAt": iso(item_updated),
        }
        for item_id, title, description, owner_id, item_created, item_updated in rows
    ]
    await respond(send, 200, {"items": items, "total": total, "offset": offset, "limit": limit})
