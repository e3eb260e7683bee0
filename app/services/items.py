"""Items: the example resource's rules. Copy this module (and `app/api/items.py`,
`app/models/items.py`) to add your own; the README's "Add a resource" says how.

Owners see and change their own items; admins see and change all of them. An item the
caller may not see is ITEM_NOT_FOUND (404, never 403), so ids of others' items leak
nothing.
"""

import uuid
from typing import Literal

from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col
from sqlmodel import delete as sql_delete

from app.core.db import flush_or
from app.core.errors import AppError, ErrorCode
from app.core.pagination import ListFilter, ListQuery, Page, fetch_page
from app.models import Role, User
from app.models.fields import utcnow
from app.models.items import Item, ItemCreate, ItemPublic, ItemUpdate
from app.services import audit, stored_files
from app.services.audit import AuditAction


class ItemFilter(ListFilter):
    """Which items, in which order: the filters and sort of the items list (and export)."""

    table = Item
    searched = ("title",)

    sort: Literal["createdAt", "-createdAt", "updatedAt", "-updatedAt", "title", "-title"] = (
        "-createdAt"
    )
    owner_id: uuid.UUID | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        owner = [] if self.owner_id is None else [col(Item.owner_id) == self.owner_id]
        return [*owner, *super().conditions()]


class ItemListQuery(ItemFilter, ListQuery):
    """The items list's filters, sort and page."""


def visible_to(user: User) -> list[ColumnElement[bool]]:
    """The condition of the items `user` may see: their own, or all for an admin."""
    return [] if user.role == Role.ADMIN else [col(Item.owner_id) == user.id]


def visible_page(db: Session, user: User, query: ItemListQuery) -> Page[ItemPublic]:
    """The items `user` may see (an admin: all) that `query` asks for."""
    return fetch_page(db, query, ItemPublic, filters=visible_to(user))


def visible_item(db: Session, user: User, item_id: uuid.UUID) -> Item:
    """The item `item_id` if `user` may see it, else `ITEM_NOT_FOUND`."""
    item = db.get(Item, item_id)
    if item is None or (user.role != Role.ADMIN and item.owner_id != user.id):
        raise AppError(ErrorCode.ITEM_NOT_FOUND)
    return item


def create(db: Session, user: User, body: ItemCreate) -> Item:
    """A new item owned by `user`."""
    item = Item.model_validate(body, update={"owner_id": user.id})
    db.add(item)
    db.flush()
    return item


def update(db: Session, user: User, item_id: uuid.UUID, body: ItemUpdate) -> Item:
    """Change the title or description of an item `user` may see."""
    item = visible_item(db, user, item_id)
    changes = body.model_dump(exclude_unset=True)
    if changes:
        item.sqlmodel_update(changes)
        item.updated_at = utcnow()
        db.add(item)
        flush_or(db, ErrorCode.ITEM_NOT_FOUND)
    return item


def delete(db: Session, user: User, item_id: uuid.UUID) -> None:
    """Delete an item `user` may see (audited: the log keeps its title)."""
    item = visible_item(db, user, item_id)
    stored_files.release(db, of=[item.id])
    deleted = db.exec(sql_delete(Item).where(col(Item.id) == item.id))
    if deleted.rowcount != 1:  # another request deleted it meanwhile
        raise AppError(ErrorCode.ITEM_NOT_FOUND)
    audit.record(
        db, AuditAction.RESOURCE_DELETED, target_type="item", target_id=item.id,
        target_label=item.title,
    )  # fmt: skip
