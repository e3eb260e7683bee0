"""The live hub of one process, driven directly: a poll of the change log that comes
while a stream resumes (both databases)."""

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from app.core.config import Settings
from app.core.state import AppState
from app.models import Item
from app.services import live
from app.services.live_hub import RESYNC, Hub
from tests.helpers import Account
from tests.live_streams import settled

QUEUE_SIZE = 5


def add_items(engine: Engine, owner_id: uuid.UUID, count: int) -> None:
    with Session(engine) as db:
        db.add_all(Item(title=f"Item {n}", owner_id=owner_id) for n in range(count))
        db.commit()


def test_a_poll_while_a_stream_resumes_does_not_drop_it_for_what_its_resync_covers(
    make_settings: Callable[..., Settings], engine: Engine, user: Account
) -> None:
    add_items(engine, user.id, 1)
    seen = settled(engine).id  # the client saw this change last
    state = AppState.start(make_settings(live_queue_size=QUEUE_SIZE, live_poll_seconds=60))
    hub = Hub(state)
    reading = hub.read

    async def resume() -> None:
        # Another user's stream keeps the reader (polling every minute) where it began.
        await hub.open(live.Viewer(uuid.uuid4(), all_items=False, users=False), after=None)
        add_items(engine, user.id, QUEUE_SIZE * 2)  # too many to replay: a resync
        newest = settled(engine)

        async def poll_meanwhile(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            if fn is live.position_of:  # the reader polls as the stream resumes
                polled.append(asyncio.create_task(hub._read_new()))
                await asyncio.sleep(0.5)
            return await reading(fn, *args, **kwargs)

        polled: list[asyncio.Task[None]] = []
        hub.read = poll_meanwhile  # type: ignore[method-assign]
        viewer = live.Viewer(user.id, all_items=False, users=False)
        stream = await hub.open(viewer, after=seen)
        await asyncio.gather(*polled)
        assert stream.open, "dropped for changes its resync stands for"
        assert (list(stream.replayed), stream.covered) == ([RESYNC], newest)
        assert stream.queue.empty()

        add_items(engine, user.id, 1)
        settled(engine)
        await hub._read_new()
        assert await stream.next(60) is RESYNC
        event = await stream.next(60)
        assert isinstance(event, live.Event)
        assert event.position > newest
        await hub.stop()

    try:
        asyncio.run(resume())
    finally:
        state.close()
