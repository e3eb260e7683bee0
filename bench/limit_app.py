"""The limit app on PostgreSQL: the least work the benchmarked requests need.

The same SQL as the service, with psycopg2 on pooled autocommit connections, straight
from the event loop (see `bench/limit_asgi.py` for the HTTP side). Figures of the
service are printed as ratios to this app, served the same way in the same run.
Environment: JWT_SECRET_KEY, LIMIT_DSN (a libpq URL).
"""

import os
import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg2.pool import ThreadedConnectionPool

from bench.limit_asgi import Json, iso, item_json, limit_app, user_json

CURRENT_USER = """
    SELECT users.id, users.email, users.name, users.role, users.is_active,
           users.email_verified_at, users.created_at, users.updated_at
    FROM users JOIN sessions ON sessions.user_id = users.id
    WHERE sessions.id = %s AND users.id = %s AND sessions.revoked_at IS NULL
      AND sessions.expires_at > %s AND users.is_active
"""
COUNT_ITEMS = "SELECT count(*) FROM items WHERE owner_id = %s"
PAGE_OF_ITEMS = """
    SELECT id, title, description, owner_id, created_at, updated_at FROM items
    WHERE owner_id = %s ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s
"""
INSERT_ITEM = """
    INSERT INTO items (id, title, description, owner_id, created_at, updated_at)
    VALUES (%s, %s, %s, %s, %s, %s)
"""


class PostgresStore:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._pool: ThreadedConnectionPool | None = None

    def query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._pool is None:
            self._pool = ThreadedConnectionPool(1, 4, self.dsn)
        connection = self._pool.getconn()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows: list[tuple[Any, ...]] = cursor.fetchall() if cursor.description else []
                return rows
        finally:
            self._pool.putconn(connection)

    def signed_in(self, session_id: str, user_id: str) -> Json | None:
        rows = self.query(CURRENT_USER, (session_id, user_id, datetime.now(UTC)))
        if not rows:
            return None
        return user_json(rows[0], uuid_text=str, time_text=iso)

    def items(self, owner_id: str, limit: int, offset: int) -> Json:
        total = self.query(COUNT_ITEMS, (owner_id,))[0][0]
        rows = self.query(PAGE_OF_ITEMS, (owner_id, limit, offset))
        items = [item_json(row, uuid_text=str, time_text=iso) for row in rows]
        return {"items": items, "total": total, "offset": offset, "limit": limit}

    def add_item(self, owner_id: str, title: str, description: str | None) -> Json:
        now = datetime.now(UTC)
        row = (str(uuid.uuid4()), title, description, owner_id, now, now)
        self.query(INSERT_ITEM, row)
        return item_json(row, uuid_text=str, time_text=iso)


app = limit_app(PostgresStore(os.environ["LIMIT_DSN"]), os.environ["JWT_SECRET_KEY"])
