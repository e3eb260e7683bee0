"""The change log of live updates: one row per created, updated or deleted item or user.

Rows are written by database triggers (see the migration that adds the table), in the
transaction of the write, whoever writes: the API, the back office, a CSV import or a
bulk action. Each new change deletes the one CHANGES_KEPT before it when readers can
take it; `python -m app cleanup` deletes those left (`app.services.live.prune`).
`LiveEvent` is what a stream of `GET /live` sends for a change.
"""

import uuid
from enum import StrEnum
from typing import Literal

import sqlalchemy as sa
from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from app.models.fields import OutputModel
from app.models.items import ItemPublic
from app.models.users import UserPublic


class Resource(StrEnum):
    ITEMS = "items"
    USERS = "users"


class ChangeType(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class Change(SQLModel, table=True):
    """A change to a row of `items` or `users`. Readers take them in (tx, id) order:
    on PostgreSQL `tx` is the writing transaction (`pg_current_xact_id()`), and only
    changes of transactions that are over are read (`app.services.live`); on SQLite,
    whose writes are serialized, `tx` is empty and the id order is the commit order."""

    __tablename__ = "changes"
    __table_args__ = (
        sa.Index("ix_changes_tx_id", "tx", "id"),
        {"sqlite_autoincrement": True},  # ids never reused, even when emptied
    )

    id: int | None = Field(default=None, primary_key=True)
    resource: str = Field(max_length=16)
    type: str = Field(max_length=16)
    record_id: uuid.UUID
    owner_id: uuid.UUID | None = None  # an item's owner
    tx: int | None = Field(default=None, sa_type=sa.BigInteger)


class LiveEvent(OutputModel):
    """One change, as the `data:` of an event of `GET /live` (its `event:` is the
    resource, its `id:` the change's id). `record` is the row as it is when the event
    is sent (what the list shows), null when deleted."""

    type: Literal["created", "updated", "deleted"]
    resource: Literal["items", "users"]
    id: uuid.UUID
    record: ItemPublic | UserPublic | None = None


class LiveResync(OutputModel):
    """The `data:` of `event: resync` (`{}`): the changes since the client's last event
    cannot all be sent, read the lists again."""

    model_config = ConfigDict(extra="forbid")
