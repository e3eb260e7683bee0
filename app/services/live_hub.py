"""The live updates of one process: one reader of the change log, fanned out to streams.

The reader runs while a stream is open: every LIVE_POLL_SECONDS it reads the new
changes of the database's log once, on a reading thread, and offers each event to
every stream whose viewer may see it. (A NOTIFY from the triggers would wake it
sooner, but PostgreSQL then commits the writing transactions one at a time: see the
migration that removed it.) On PostgreSQL, changes committed while an older
transaction still runs wait for it to end (`app.services.live.Position`), and are
read at the first poll after. A stream holds at most LIVE_QUEUE_SIZE events; one
that falls further behind (a client that does not read) is dropped from the hub and
told to resync, so memory stays bounded. At most
LIVE_MAX_STREAMS_PER_USER streams per user are open at once in a process
(`LIVE_TOO_MANY_STREAMS`, 429).
"""

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from app.core.db import read_again_if_dropped
from app.core.errors import AppError, ErrorCode
from app.core.state import AppState
from app.services import live
from app.services.live import START, Event, Viewer

T = TypeVar("T")
BATCH = 500  # changes read at once
logger = logging.getLogger(__name__)


class Resync:
    """Told to a stream that missed events: its client should read its lists again."""


class End:
    """Ends a stream: the server is stopping (its client connects again elsewhere)."""


RESYNC, END = Resync(), End()


class Stream:
    """One open stream: what its viewer may see, and the events waiting to be sent."""

    def __init__(self, viewer: Viewer, size: int) -> None:
        self.viewer = viewer
        self.queue: asyncio.Queue[Event | Resync | End] = asyncio.Queue(size)
        self.replayed: collections.deque[Event | Resync] = collections.deque()
        self.last = START  # the position of the last event sent
        self.covered = START  # events up to here were replayed, or a resync stands for them
        self.open = True

    def offer(self, event: Event) -> bool:
        """Queue `event` if the viewer may see it and it was not replayed; `False` when
        the queue is full."""
        if event.position > self.covered and event.visible_to(self.viewer):
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:
                return False
        return True

    def interrupt(self, marker: Resync | End) -> None:
        """Forget what is queued, and say `marker` next."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(marker)

    async def next(self, seconds: float) -> Event | Resync | End | None:
        """The next event the viewer may see, or `None` after `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            found: Event | Resync | End
            if self.replayed:
                found = self.replayed.popleft()
            else:
                try:
                    found = await asyncio.wait_for(self.queue.get(), deadline - time.monotonic())
                except TimeoutError:
                    return None
            if not isinstance(found, Event):
                return found
            if found.position > self.last and found.visible_to(self.viewer):
                self.last = found.position
                return found


class Hub:
    """The streams of one app, and the reader that feeds them."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.streams: set[Stream] = set()
        self.per_user: collections.Counter[Any] = collections.Counter()
        self.cursor = START
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(db, *args, **kwargs)` in a read-only session, on a reading thread."""

        def run() -> T:
            with self.state.database.session(read_only=True) as db:
                return fn(db, *args, **kwargs)

        return await self.state.threads.run(read_again_if_dropped, run, writes=False)

    async def open(self, viewer: Viewer, *, after: int | None) -> Stream:
        """A new stream for `viewer`, replaying the changes after `after` when given
        (or asking for a resync when they are no longer all kept)."""
        user_id, settings = viewer.user_id, self.state.settings
        if self.per_user[user_id] >= settings.live_max_streams_per_user:
            raise AppError(ErrorCode.LIVE_TOO_MANY_STREAMS)
        self.per_user[user_id] += 1
        stream = Stream(viewer, settings.live_queue_size)
        try:
            async with self.lock:
                if self.task is None:
                    self.cursor = await self.read(live.latest_position)
                    self.task = asyncio.create_task(self._run(settings.live_poll_seconds))
                self.streams.add(stream)
                stream.last = self.cursor
                if after is not None:  # no poll meanwhile: it would queue what is replayed
                    await self._replay(stream, after)
        except BaseException:
            self.close(stream)
            raise
        return stream

    async def _replay(self, stream: Stream, after: int) -> None:
        """Queue the events after change `after` for `stream`, or a resync when the log
        no longer holds it (or never did), or holds too many changes since."""
        size = self.state.settings.live_queue_size
        position = await self.read(live.position_of, after)
        if position is not None:
            batch = await self.read(live.read_events, after=position, limit=size + 1)
            if not batch.full:  # else more than `size` changes since: too many to replay
                stream.replayed.extend(batch.events)
                stream.last, stream.covered = position, batch.last
                return
        stream.replayed.append(RESYNC)  # the client reads its lists again: from now on
        stream.last = stream.covered = await self.read(live.latest_position)

    def close(self, stream: Stream) -> None:
        """Let go of `stream` (again is harmless); the reader stops with the last one."""
        if not stream.open:
            return
        stream.open = False
        self.streams.discard(stream)
        self.per_user[stream.viewer.user_id] -= 1
        if self.per_user[stream.viewer.user_id] <= 0:
            del self.per_user[stream.viewer.user_id]
        if not self.streams and self.task is not None:
            self.task.cancel()
            self.task = None

    def end_all(self) -> None:
        """End every stream: the server is stopping, and waits for open responses."""
        for stream in list(self.streams):
            stream.interrupt(END)
            self.close(stream)

    async def stop(self) -> None:
        """Stop the reader (the app is stopping)."""
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, poll_seconds: float) -> None:
        while True:
            await asyncio.sleep(poll_seconds)
            try:
                await self._read_new()
            except SQLAlchemyError as exc:  # the database is away: try again later
                logger.warning("live updates: cannot read changes: %s", exc)

    async def _read_new(self) -> None:
        """Offer every change since the cursor that can be taken to the streams (not
        while a stream opens)."""
        async with self.lock:
            while True:
                batch = await self.read(live.read_events, after=self.cursor, limit=BATCH)
                self.cursor = batch.last
                for event in batch.events:
                    for stream in list(self.streams):
                        if not stream.offer(event):
                            stream.interrupt(RESYNC)
                            self.close(stream)
                if not batch.full:
                    return
