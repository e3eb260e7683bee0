"""The order of the change log on PostgreSQL, where transactions commit side by side:
a change is read once every older transaction is over, in (transaction, id) order,
each once, and a reader resuming after a change misses none committed around it,
though change ids do not follow that order. And its size: `cleanup` deletes what a
bulk write leaves past the newest CHANGES_KEPT (both databases)."""

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlmodel import Session, func, insert, select

from app.models import Item
from app.models.changes import Change
from app.models.fields import utcnow
from app.services import live
from tests.helpers import Account, poll
from tests.live_streams import INSERT_ITEM, settled


@pytest.fixture
def transactions(backend: str, engine: Engine) -> Iterator[tuple[Connection, Connection]]:
    """Two connections for transactions that overlap (PostgreSQL only)."""
    if backend != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: ids are the commit order")
    with engine.connect() as older, engine.connect() as newer:
        yield older, newer


def insert_item(connection: Connection, owner_id: uuid.UUID) -> str:
    """Insert an item in the connection's transaction (not committed); its id."""
    item_id = uuid.uuid4()
    connection.execute(INSERT_ITEM, {"id": item_id, "owner_id": owner_id})
    return str(item_id)


def read(engine: Engine, after: live.Position) -> live.Batch:
    with Session(engine) as db:
        return live.read_events(db, after=after, limit=100)


def read_all(engine: Engine, after: live.Position, count: int) -> live.Batch:
    """The batch once it holds `count` events (another test's transaction, open on the
    same server, holds changes back for a while)."""
    assert poll(lambda: len(read(engine, after).events) >= count, seconds=60)
    return read(engine, after)


def latest(engine: Engine) -> live.Position:
    with Session(engine) as db:
        return live.latest_position(db)


def items(batch: live.Batch) -> list[str]:
    """The items the events are about, in order."""
    return [json.loads(event.data)["id"] for event in batch.events]


def test_a_change_is_read_once_every_older_transaction_is_over(
    transactions: tuple[Connection, Connection], engine: Engine, user: Account
) -> None:
    older, newer = transactions
    start = settled(engine)
    first = insert_item(older, user.id)
    older.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # its change is written, still open
    second = insert_item(newer, user.id)
    newer.commit()  # commits first, with the later change id

    held = read(engine, start)
    assert (held.events, held.last) == ([], start)
    older.commit()

    batch = read_all(engine, start, 2)
    assert items(batch) == [first, second]
    assert batch.events[0].id < batch.events[1].id
    assert read(engine, batch.last).events == []  # each once
    assert latest(engine) == batch.last


def test_resuming_after_a_change_takes_the_next_ones_whatever_their_ids(
    transactions: tuple[Connection, Connection], engine: Engine, user: Account
) -> None:
    older, newer = transactions
    start = settled(engine)
    first = insert_item(older, user.id)  # its change is written when it commits, last
    second = insert_item(newer, user.id)
    newer.commit()
    assert read(engine, start).events == []
    older.commit()

    batch = read_all(engine, start, 2)
    assert items(batch) == [first, second]
    after_first, after_second = (event.id for event in batch.events)
    assert after_first > after_second  # ids do not follow the order here
    with Session(engine) as db:
        position = live.position_of(db, after_first)
        assert live.position_of(db, after_second) == batch.last
    assert position is not None
    assert items(read(engine, position)) == [second]
    assert read(engine, batch.last).events == []


def test_cleanup_deletes_the_changes_a_bulk_write_leaves(
    backend: str, engine: Engine, user: Account
) -> None:
    now = utcnow()
    rows = [
        {"id": uuid.uuid4(), "title": "Bulk", "owner_id": user.id, "created_at": now,
         "updated_at": now}
        for _ in range(live.CHANGES_KEPT + 50)
    ]  # fmt: skip
    with Session(engine) as db:
        db.execute(insert(Item), rows)  # one transaction, one change a row
        db.commit()
        count = select(func.count()).select_from(Change)
        if backend == "postgresql":  # its own changes were not the trigger's to delete
            assert db.exec(count).one() >= live.CHANGES_KEPT + 50

        def pruned() -> bool:
            live.prune(db)
            db.commit()
            return db.exec(count).one() <= live.CHANGES_KEPT

        assert poll(pruned, seconds=60)  # once no older transaction runs
        newest = db.exec(select(func.max(Change.id))).one()
        assert db.exec(select(Change).where(Change.id == newest)).one().resource == "items"
