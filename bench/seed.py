"""The benchmark's data: a scratch PostgreSQL database or a SQLite file, seeded alike.

Both get, after the migrations: an admin, a reader with 1,000 items, a writer (whose
new items leave the reader's list alone), an account for sign-ins, and fillers up to
1,000 users. Rows are written directly (psycopg2 or sqlite3), in the formats the
service's column types use.
"""

import os
import secrets
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras
from sqlalchemy import create_engine, make_url, text

from app.core.migrations import migrate

PASSWORD = "bench password 1"
ADMIN = "admin@bench.example"
READER = "reader@bench.example"
WRITER = "writer@bench.example"
# Sign-ins rotate through these accounts: people signing in, not one account
# hammered (16 sign-ins at once for one email mostly measure its throttle waiting).
LOGINS = [f"login-{n}@bench.example" for n in range(64)]
SEED_USERS = 1000
READER_ITEMS = 1000

USER_COLUMNS = "id, email, name, password_hash, role, is_active, created_at, updated_at"
ITEM_COLUMNS = "id, title, description, owner_id, created_at, updated_at"
Row = tuple[Any, ...]


def user_rows(count: int, password_hash: str, *, emails: Sequence[str] = ()) -> list[Row]:
    """`count` users with distinct creation times, the first ones named `emails`."""
    start = datetime.now(UTC) - timedelta(days=30)
    return [
        (
            uuid.uuid4(),
            emails[n] if n < len(emails) else f"filler-{uuid.uuid4().hex}@example.com",
            f"User {n}",
            password_hash,
            "USER",
            True,
            start + timedelta(seconds=n),
            start + timedelta(seconds=n),
        )
        for n in range(count)
    ]


def item_rows(owner_id: uuid.UUID, count: int) -> list[Row]:
    start = datetime.now(UTC) - timedelta(days=10)
    return [
        (uuid.uuid4(), f"Item {n}", "A benchmark item", owner_id, at, at)
        for n, at in ((n, start + timedelta(seconds=n)) for n in range(count))
    ]


def seed_rows(password_hash: str) -> tuple[list[Row], list[Row]]:
    """The users (the admin first, then the reader) and the reader's items of the seed."""
    users = user_rows(SEED_USERS, password_hash, emails=[ADMIN, READER, WRITER, *LOGINS])
    users[0] = (*users[0][:4], "ADMIN", *users[0][5:])
    return users, item_rows(users[1][0], READER_ITEMS)


# PostgreSQL


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database on the server of `server_url`, dropped on exit; yields its URL."""
    name = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def libpq_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def execute(dsn: str, sql: str, params: Row = (), *, autocommit: bool = False) -> list[Row]:
    """Run one statement in its own connection; the rows it returns, if any."""
    with closing(psycopg2.connect(dsn)) as connection:
        connection.autocommit = autocommit
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows: list[Row] = cursor.fetchall() if cursor.description else []
        if not autocommit:
            connection.commit()
        return rows


def insert_pg(dsn: str, table: str, columns: str, rows: list[Row]) -> None:
    psycopg2.extras.register_uuid()
    sql = f"INSERT INTO {table} ({columns}) VALUES %s"  # noqa: S608
    with closing(psycopg2.connect(dsn)) as connection, connection, connection.cursor() as cursor:
        psycopg2.extras.execute_values(cursor, sql, rows, page_size=5000)
    vacuum(dsn)


def vacuum(dsn: str) -> None:
    execute(dsn, "VACUUM ANALYZE", autocommit=True)


def seed_postgres(database_url: str, password_hash: str) -> None:
    migrate(database_url)
    users, items = seed_rows(password_hash)
    insert_pg(libpq_dsn(database_url), "users", USER_COLUMNS, users)
    insert_pg(libpq_dsn(database_url), "items", ITEM_COLUMNS, items)


def count_rows(dsn: str, table: str) -> int:
    count: int = execute(dsn, f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608
    return count


def free_connections(dsn: str) -> int:
    """Client connections the server still accepts (besides its reserved ones)."""
    free: int = execute(
        dsn,
        "SELECT current_setting('max_connections')::int"
        " - current_setting('superuser_reserved_connections')::int - count(*)"
        " FROM pg_stat_activity WHERE backend_type = 'client backend'",
    )[0][0]
    return free


BULK_FILLERS = """
    INSERT INTO users (id, email, name, password_hash, role, is_active, created_at, updated_at)
    SELECT gen_random_uuid(), 'bulk-' || n || '@example.com', 'Bulk ' || n, %s, 'USER', true,
           now() - interval '60 days' + n * interval '1 second',
           now() - interval '60 days' + n * interval '1 second'
    FROM generate_series(1, %s) AS n
"""


def fill_users_to(dsn: str, total: int, password_hash: str) -> None:
    """Fillers up to `total` users, in one INSERT ... SELECT, then VACUUM ANALYZE."""
    missing = total - count_rows(dsn, "users")
    if missing > 0:
        execute(dsn, BULK_FILLERS, (password_hash, missing))
    vacuum(dsn)


# SQLite: UUIDs as 32 hex digits, times as naive UTC text, as SQLAlchemy stores them.


def sqlite_value(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def insert_sqlite(path: Path, table: str, columns: str, rows: list[Row]) -> None:
    marks = ", ".join("?" * len(columns.split(",")))
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608
            [tuple(sqlite_value(value) for value in row) for row in rows],
        )


def seed_sqlite(path: Path, password_hash: str) -> str:
    """Migrate and seed the SQLite file `path`; returns its URL."""
    url = f"sqlite:///{path}"
    migrate(url)
    users, items = seed_rows(password_hash)
    insert_sqlite(path, "users", USER_COLUMNS, users)
    insert_sqlite(path, "items", ITEM_COLUMNS, items)
    return url
