"""Items: the example resource, owned by a user. Copy it to add your own."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, Relationship

from app.models.fields import (
    CamelModel,
    InputModel,
    Omittable,
    OutputModel,
    Title,
    new_id,
    timestamp,
)
from app.models.users import User


class ItemBase(CamelModel):
    title: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)


class Item(ItemBase, table=True):
    __tablename__ = "items"

    id: uuid.UUID = new_id()
    owner_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()

    # Read-only, loaded only when asked for (the back office shows the email).
    owner: User = Relationship(sa_relationship_kwargs={"lazy": "raise", "viewonly": True})

    __table_args__ = (
        sa.Index("ix_items_owner_id_created_at_id", "owner_id", "created_at", "id"),
        sa.Index("ix_items_owner_id_updated_at_id", "owner_id", "updated_at", "id"),
        sa.Index("ix_items_owner_id_title_id", "owner_id", "title", "id"),
        sa.Index("ix_items_created_at_id", "created_at", "id"),
        sa.Index("ix_items_updated_at_id", "updated_at", "id"),
        sa.Index("ix_items_title_id", "title", "id"),
    )


class ItemCreate(ItemBase, InputModel):
    title: Title


class ItemUpdate(InputModel):
    title: Omittable[Title] = None
    description: str | None = Field(default=None, max_length=10_000)


class ItemPublic(ItemBase, OutputModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
