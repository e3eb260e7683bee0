"""Database engines and units of work.

The sync/async rule, the same everywhere: every route is `async def` and never
touches the database itself. Database work is a *unit*: a plain sync function
`fn(db, ...)` over a SQLModel session, which `Database.run` executes on a worker
thread inside one transaction, committed when `fn` returns and rolled back when it
raises (`Database.read` does the same for reads, on autocommit connections). Each
unit opens and closes its own session, so a request never holds a connection while
it waits for anything else (a password hash, the client), and each unit costs one
thread hop. Services flush; the unit commits, once.
"""

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, QueuePool, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from app.config import Settings
from app.errors import AppError, ErrorCode

P = ParamSpec("P")
T = TypeVar("T")

# SQLite lets one connection write at a time; more writers per process would only
# poll in its busy handler, which is unfair: a few of them wait for seconds.
SQLITE_WRITE_THREADS = 2


def create_db_engine(settings: Settings, *, autocommit: bool = False) -> Engine:
    """An engine for SQLite (the embedded default) or PostgreSQL (psycopg2).

    SQLite gets foreign keys (so deletes cascade), WAL (readers never wait for the
    writer) and a busy timeout; in production `synchronous=FULL`, so every
    acknowledged write survives a power loss (NORMAL, elsewhere, survives a crash
    of the process only); PostgreSQL gets a liveness ping on checkout.

    Each engine keeps one connection per thread of its units (DATABASE_POOL_SIZE
    for transactions), and no overflow: connections opened past the pool would be
    closed again as soon as they are returned, a new connection per unit under load.
    `autocommit` makes an engine for reads: no BEGIN, COMMIT or ROLLBACK round
    trips, no ping (`Database.read` retries once on a dropped connection), and one
    connection per read thread (DATABASE_READ_THREADS).
    """
    options: dict[str, Any] = {
        "echo": settings.debug,
        "pool_size": settings.database_pool_size,
        "max_overflow": 0,
        "pool_timeout": settings.database_pool_timeout,
    }
    if autocommit:
        options.update(isolation_level="AUTOCOMMIT", pool_size=settings.database_read_threads)
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
        pool_pre_ping=settings.database_pool_pre_ping and not autocommit,
        connect_args={"connect_timeout": 10},
        **options,
    )


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


def _in_transaction(
    engine: Engine, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    with Session(engine, expire_on_commit=False) as db:
        try:
            result = fn(db, *args, **kwargs)
        except AppError as error:
            if error.keep_changes:
                db.commit()
            raise
        db.commit()
        return result


def _reading(
    engine: Engine, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    for attempt in (1, 2):
        try:
            with Session(engine) as db:
                return fn(db, *args, **kwargs)
        except DBAPIError as exc:  # a connection dropped since its last use: retry once
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class Database:
    """The engines of one process and the units that run on them.

    Each engine has its own threads, no more than its pool has connections, and
    units queue for them without a thread: a unit never waits for a connection while
    holding a thread, so threads waiting for connections and connections waiting for
    threads cannot deadlock. The threads are few (DATABASE_READ_THREADS for reads,
    DATABASE_POOL_SIZE for transactions, which also wait for locks and commits): a
    unit is mostly Python, which runs one thread at a time, so more threads would
    only take the interpreter lock from each other and from the event loop.
    """

    def __init__(self, settings: Settings) -> None:
        self.engine = create_db_engine(settings)
        self.read_engine = create_db_engine(settings, autocommit=True)
        writers = SQLITE_WRITE_THREADS if settings.is_sqlite else settings.database_pool_size
        self._threads = _threads(writers)
        self._read_threads = _threads(settings.database_read_threads)

    async def run(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(db, *args, **kwargs)` in one transaction on a worker thread; commits
        when it returns, rolls back when it raises."""
        unit = partial(_in_transaction, self.engine, fn, *args, **kwargs)
        return await _on(self._threads, unit)

    async def read(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(db, *args, **kwargs)` on an autocommit connection on a worker thread.
        For reads only: there is no transaction to roll back a write."""
        unit = partial(_reading, self.read_engine, fn, *args, **kwargs)
        return await _on(self._read_threads, unit)

    def run_here(
        self, fn: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`run` on the calling thread, for the command line and tests."""
        return _in_transaction(self.engine, fn, *args, **kwargs)

    def dispose(self) -> None:
        """Stop the threads and close every pooled connection."""
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._read_threads.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()
        self.read_engine.dispose()


def _threads(count: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=count, thread_name_prefix="db")


async def _on(threads: ThreadPoolExecutor, unit: Callable[[], T]) -> T:
    """`unit()` on one of `threads`, in a copy of the caller's context (as the request's
    id and actor are kept in context variables)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(threads, context.run, unit)
