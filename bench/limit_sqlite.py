"""The limit app on SQLite: the same least work as `bench/limit_app.py`, with sqlite3.

One connection per worker, opened with the pragmas the service uses in production
(`app/db.py`: foreign keys, WAL, synchronous=FULL, a 30 s busy timeout), in autocommit
mode, straight from the event loop. Values are stored as SQLAlchemy stores them:
UUIDs as 32 hex digits, times as naive UTC text.
Environment: JWT_SECRET_KEY, LIMIT_SQLITE_PATH.
"""

import os
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.limit_asgi import Json, iso, item_json, limit_app, user_json

PRAGMAS = ("foreign_keys=ON", "journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000")
CURRENT_USER = """
    SELECT users.id, users.email, users.name, users.role, users.is_active,
           users.email_verified_at, users.created_at, users.updated_at
    FROM users JOIN sessions ON sessions.user_id = users.id
    WHERE sessions.id = ? AND users.id = ? AND sessions.revoked_at IS NULL
      AND sessions.expires_at > ? AND users.is_active
"""
COUNT_ITEMS = "SELECT count(*) FROM items WHERE owner_id = ?"
PAGE_OF_ITEMS = """
    SELECT id, title, description, owner_id, created_at, updated_at FROM items
    WHERE owner_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?
"""
INSERT_ITEM = """
    INSERT INTO items (id, title, description, owner_id, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?)
"""


def stored_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def time_json(value: str) -> str:
    return iso(datetime.fromisoformat(value).replace(tzinfo=UTC))


def uuid_text(value: str) -> str:
    return str(uuid.UUID(value))


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._connection is None:
            self._connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            for pragma in PRAGMAS:
                self._connection.execute(f"PRAGMA {pragma}")
        return self._connection.execute(sql, params).fetchall()

    def signed_in(self, session_id: str, user_id: str) -> Json | None:
        now = stored_time(datetime.now(UTC))
        rows = self.query(CURRENT_USER, (uuid.UUID(session_id).hex, uuid.UUID(user_id).hex, now))
        if not rows:
            return None
        return user_json(rows[0], uuid_text=uuid_text, time_text=time_json)

    def items(self, owner_id: str, limit: int, offset: int) -> Json:
        owner = uuid.UUID(owner_id).hex
        total = self.query(COUNT_ITEMS, (owner,))[0][0]
        rows = self.query(PAGE_OF_ITEMS, (owner, limit, offset))
        items = [item_json(row, uuid_text=uuid_text, time_text=time_json) for row in rows]
        return {"items": items, "total": total, "offset": offset, "limit": limit}

    def add_item(self, owner_id: str, title: str, description: str | None) -> Json:
        now = stored_time(datetime.now(UTC))
        row = (uuid.uuid4().hex, title, description, uuid.UUID(owner_id).hex, now, now)
        self.query(INSERT_ITEM, row)
        return item_json(row, uuid_text=uuid_text, time_text=time_json)


app = limit_app(SqliteStore(os.environ["LIMIT_SQLITE_PATH"]), os.environ["JWT_SECRET_KEY"])
