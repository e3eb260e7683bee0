"""Database engine and the per-request session."""

from collections.abc import AsyncIterator
from typing import Any

from anyio import CapacityLimiter, to_thread
from fastapi import Request
from sqlalchemy import Engine, QueuePool, create_engine, event
from sqlmodel import Session

from app.config import Settings


def create_db_engine(settings: Settings, *, autocommit: bool = False) -> Engine:
    """An engine for SQLite (the embedded default) or PostgreSQL (psycopg2).

    SQLite gets foreign keys (so deletes cascade), WAL (readers never wait for the
    writer) and a busy timeout; PostgreSQL gets a liveness ping on checkout. Both
    pools are as large as the request threadpool, so requests never queue for a
    connection while threads sit idle.

    `autocommit` makes an engine for single-statement reads: no BEGIN, COMMIT or
    ROLLBACK round trips, no ping (callers retry once on a dropped connection), and
    a pool of DATABASE_POOL_SIZE connections without overflow.
    """
    options: dict[str, Any] = {
        "echo": settings.debug,
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout,
    }
    if autocommit:
        options.update(isolation_level="AUTOCOMMIT", max_overflow=0)
    if settings.is_sqlite:
        engine = create_engine(
            settings.database_url,
            poolclass=QueuePool,
            connect_args={"check_same_thread": False, "timeout": 30},
            **options,
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(
        settings.database_url,
        pool_pre_ping=settings.database_pool_pre_ping and not autocommit,
        connect_args={"connect_timeout": 10},
        **options,
    )


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One database session per request, closed when the response has been sent.

    Sessions wait (without a thread) for one of `session_slots`, as many as the pool
    has connections: a session never waits for a connection while holding a
    request thread, so sessions holding connections and threads waiting for them
    cannot deadlock. Opening a session does no I/O; closing one that still holds a
    connection rolls back over the network, on a worker thread of its own.
    """
    async with request.app.state.session_slots:
        session = Session(request.app.state.engine, expire_on_commit=False)
        try:
            yield session
        finally:
            if session.in_transaction():
                await to_thread.run_sync(session.close, limiter=CapacityLimiter(1))
            else:
                session.close()
