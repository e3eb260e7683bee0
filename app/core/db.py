"""The database: the connections of one app, and the sessions that use them.

A session that writes gets a transaction, which its owner commits once (the request's
session dependency, `app.api.deps.get_db`, or a command). A session that only reads
runs each statement on its own, on connections kept in autocommit (a pool of their
own, so that none switches modes on each use): no BEGIN, COMMIT or ROLLBACK round
trip, nothing to reset on its return. Services flush; they commit only where a use
case must let go of its connection (before hashing a password), and say so.
"""

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import Engine, QueuePool, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from app.core.config import Settings
from app.core.errors import AppError, ErrorCode
from app.core.storage import STORAGE_INFO, Storage, open_storage

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class Database:
    """The connection pools of one app, its sessions, and the storage of the
    attachments of its rows (each session carries it, to remove objects whose rows
    it deleted once it commits)."""

    def __init__(self, settings: Settings) -> None:
        self.storage: Storage = open_storage(settings)
        self.engine = create_db_engine(settings)
        # `make bench` (a): 0.33 x the limit app when reads ran in transactions on the
        # writers' pool, 0.42 with a pool of their own (3 runs each, 2026-12-04).
        self.reading = create_db_engine(settings, reading=True)

    def session(self, *, read_only: bool = False) -> Session:
        """A new session (no connection until its first statement); a `read_only`
        one runs each statement on its own, without a transaction."""
        engine = self.reading if read_only else self.engine
        return Session(engine, expire_on_commit=False, info={STORAGE_INFO: self.storage})

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        self.reading.dispose()


def read_again_if_dropped(read: Callable[[*Ts], T], *args: *Ts) -> T:
    """`read(*args)`, run once more when its connection turned out dropped (the server
    restarted, say): reading connections are not pinged before each use."""
    try:
        return read(*args)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return read(*args)


def create_db_engine(settings: Settings, *, reading: bool = False) -> Engine:
    """An engine for SQLite (the embedded default) or PostgreSQL (psycopg2).

    SQLite gets foreign keys (so deletes cascade), WAL (readers never wait for the
    writer) and a busy timeout; in production `synchronous=FULL`, so every
    acknowledged write survives a power loss (NORMAL, elsewhere, survives a crash
    of the process only). PostgreSQL gets a liveness ping on checkout when
    DATABASE_POOL_PRE_PING is on.

    The pool holds a connection for each thread that may use one (`app.core.threads`)
    and no overflow: connections opened past the pool would be closed again as soon as
    they are returned. `reading` makes the pool of the reading threads: in autocommit,
    not pinged (see `read_again_if_dropped`), and not reset on return.
    """
    options = _pool_options(settings, reading=reading)
    if settings.is_sqlite:
        engine = create_engine(
            settings.database_url,
            poolclass=QueuePool,
            connect_args={"check_same_thread": False, "timeout": 30},
            **options,
        )
        synchronous = "FULL" if settings.environment == "production" else "NORMAL"
        event.listen(engine, "connect", partial(_configure_sqlite, synchronous=synchronous))
        return engine
    return create_engine(
        settings.database_url,
        # `make bench` (a): 0.37 x the limit app with a ping before every read, 0.42 without.
        pool_pre_ping=settings.database_pool_pre_ping and not reading,
        connect_args={"connect_timeout": 10},
        **options,
    )


def _pool_options(settings: Settings, *, reading: bool) -> dict[str, Any]:
    threads = settings.database_write_threads + settings.password_hash_threads
    options: dict[str, Any] = {
        "echo": settings.debug,
        "pool_size": threads,
        "max_overflow": 0,
        "pool_timeout": settings.database_pool_timeout,
    }
    if reading:
        options.update(
            pool_size=settings.database_read_threads,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
        )
    return options


def _configure_sqlite(dbapi_connection: Any, _record: object, *, synchronous: str) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def describe_unreachable(exc: DBAPIError, database_url: str) -> str:
    """One line saying why the database cannot be used, and what to do about it."""
    url = make_url(database_url)
    message = str(exc.orig or exc).strip().splitlines()[0]
    if url.get_backend_name() == "sqlite":
        return (
            f"cannot open the SQLite database {url.database}: {message} "
            "(does its directory exist, and may this user write there?)"
        )
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    if "does not exist" in message and f'"{url.database}"' in message:
        return (
            f'database "{url.database}" does not exist on {where}: '
            f"create it first (createdb -h {url.host or 'localhost'} -p {url.port or 5432} "
            f"{url.database})"
        )
    if "Connection refused" in message:
        return (
            f"nothing answers at {where}: is PostgreSQL running there, and is DATABASE_URL right?"
        )
    if "could not translate host name" in message:
        return f"unknown host {url.host!r}: check the host in DATABASE_URL"
    return f"cannot use the database at {where}: {message}"


def flush_or(db: Session, missing: ErrorCode) -> None:
    """Flush pending changes; a row that another request deleted meanwhile makes the
    change `missing` (a 404), not a 500."""
    try:
        db.flush()
    except StaleDataError:
        raise AppError(missing) from None
