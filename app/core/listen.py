"""Hearing that the database has new changes (the `changes` table, `app.models.changes`),
for live updates.

PostgreSQL: one connection per process LISTENs on the `changes` channel, which the
tables' triggers NOTIFY at commit; it is read when the event loop says its socket is
readable, so nothing waits on it. SQLite has no notifications: the log is read every
LIVE_POLL_SECONDS. Either way the listener only wakes its reader, which then reads the
log from where it stopped, so a missed notification (a dropped connection) loses
nothing: on PostgreSQL the log is read at least every BACKSTOP_SECONDS too.
"""

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import psycopg2
import psycopg2.extensions
from sqlalchemy import make_url

from app.core.config import Settings

CHANNEL = "changes"
BACKSTOP_SECONDS = 15.0
RECONNECT_SECONDS = 2.0
logger = logging.getLogger(__name__)


class ChangeSignal(Protocol):
    """What wakes the reader of the change log."""

    async def wait(self) -> None:
        """Return once there may be new changes."""

    def close(self) -> None:
        """Let go of what it holds (a connection)."""


class Polling:
    """SQLite: new changes may be there every `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def wait(self) -> None:
        """Sleep one polling interval."""
        await asyncio.sleep(self.seconds)

    def close(self) -> None:
        """Nothing to let go of."""


class Listening:
    """PostgreSQL: LISTEN on one connection of its own, read without blocking."""

    def __init__(self, database_url: str) -> None:
        self.dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
        self.connection: Any = None
        self.socket = -1
        self.heard = asyncio.Event()

    async def wait(self) -> None:
        """Return when NOTIFY was heard, or after BACKSTOP_SECONDS; (re)connect first
        when there is no connection."""
        if self.connection is None:
            await self._connect()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.heard.wait(), BACKSTOP_SECONDS)
        self.heard.clear()

    async def _connect(self) -> None:
        try:
            self.connection = await asyncio.to_thread(self._open)
        except psycopg2.Error as exc:
            logger.warning("live updates: cannot listen for changes: %s", exc)
            await asyncio.sleep(RECONNECT_SECONDS)
            return
        self.socket = self.connection.fileno()
        asyncio.get_running_loop().add_reader(self.socket, self._readable)
        self.heard.set()  # read what was committed while not listening

    def _open(self) -> Any:
        connection = psycopg2.connect(self.dsn, connect_timeout=10, keepalives=1)
        connection.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        return connection

    def _readable(self) -> None:
        """The socket has data: take the notifications it holds (no waiting)."""
        try:
            self.connection.poll()
        except psycopg2.Error as exc:
            logger.warning("live updates: the listening connection dropped: %s", exc)
            self.close()
        else:
            self.connection.notifies.clear()
        self.heard.set()

    def close(self) -> None:
        """Stop listening and close the connection."""
        if self.connection is None:
            return
        with contextlib.suppress(RuntimeError):  # no loop runs any more
            asyncio.get_running_loop().remove_reader(self.socket)
        self.connection.close()
        self.connection = None


def change_signal(settings: Settings) -> ChangeSignal:
    """How this process hears of new changes in its database."""
    if settings.is_sqlite:
        return Polling(settings.live_poll_seconds)
    return Listening(settings.database_url)
