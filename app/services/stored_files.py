"""The stored bytes of items' files, released with the rows that own them: the
files' rows go with their items by the foreign key's cascade, their objects once
the deletion commits (`app.core.storage.delete_after_commit`)."""

import uuid
from collections.abc import Sequence

from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, select

from app.core.storage import delete_after_commit
from app.models.attachments import Attachment
from app.models.items import Item


def _release(db: Session, *where: ColumnElement[bool]) -> None:
    of_items = col(Item.id) == col(Attachment.item_id)
    keys = db.exec(select(Attachment.storage_key).join(Item, of_items).where(*where))
    delete_after_commit(db, keys.all())


def release(db: Session, *, of: Sequence[uuid.UUID]) -> None:
    """Before the items `of` are deleted: remove their files' objects once it commits."""
    _release(db, col(Item.id).in_(of))


def release_owned_by(db: Session, owner_id: uuid.UUID) -> None:
    """Before a user is deleted: remove their items' files' objects once it commits."""
    _release(db, col(Item.owner_id) == owner_id)
