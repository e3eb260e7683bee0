"""Database engine and the per-request session."""

from collections.abc import Iterator
from typing import Any

from fastapi import Request
from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

from app.config import Settings


def create_db_engine(settings: Settings) -> Engine:
    """An engine for SQLite (the embedded default) or PostgreSQL (psycopg2).

    SQLite gets foreign keys (so deletes cascade), WAL (readers never wait for the
    writer) and a busy timeout. PostgreSQL gets a pool as large as the request
    threadpool, so requests never queue for a connection while threads sit idle.
    """
    if settings.is_sqlite:
        engine = create_engine(
            settings.database_url,
            echo=settings.debug,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(
        settings.database_url,
        echo=settings.debug,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout,
        pool_pre_ping=settings.database_pool_pre_ping,
        connect_args={"connect_timeout": 10},
    )


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def get_session(request: Request) -> Iterator[Session]:
    """One database session per request, closed when the response has been sent."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session
