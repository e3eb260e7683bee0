"""Attachments: files uploaded to an item. The row keeps what the file is called and
what it is; its bytes are in the storage (`app.core.storage`) under `storage_key`."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.fields import OutputModel, new_id, timestamp


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"

    id: uuid.UUID = new_id()
    item_id: uuid.UUID = Field(foreign_key="items.id", ondelete="CASCADE")
    storage_key: str = Field(max_length=64, unique=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=127)
    size: int = Field(sa_type=sa.BigInteger)
    created_at: datetime = timestamp()

    __table_args__ = (sa.Index("ix_attachments_item_id_created_at", "item_id", "created_at"),)


class AttachmentPublic(OutputModel):
    """A file of an item: what it is called, what its bytes are, and how many."""

    id: uuid.UUID
    item_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    created_at: datetime
