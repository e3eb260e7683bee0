"""Items: the example resource. Copy this module to add your own (see the README).

Owners see and change their own items; admins see and change all of them. An item
the caller may not see answers 404, never 403, so ids of others' items leak nothing.
The functions over `db` are the units the routes run through their caller.
"""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col
from sqlmodel import delete as sql_delete

from app.db import flush_or
from app.deps import SignedIn
from app.errors import SIGNED_IN, AppError, ErrorCode, responses
from app.fields import utcnow
from app.models import Item, ItemCreate, ItemPublic, ItemUpdate, Role, User
from app.pagination import PAGE_HEADERS, ListQuery, Page, counted, fetch_page

router = APIRouter(prefix="/items", tags=["items"], responses=responses(*SIGNED_IN))
ItemId = Annotated[uuid.UUID, Path(alias="itemId", description="The item's id")]
NOT_FOUND = responses(ErrorCode.ITEM_NOT_FOUND)


class ItemListQuery(ListQuery):
    table = Item
    searched = ("title",)

    sort: Literal["createdAt", "-createdAt", "updatedAt", "-updatedAt", "title", "-title"] = (
        "-createdAt"
    )
    owner_id: uuid.UUID | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        owner = [] if self.owner_id is None else [col(Item.owner_id) == self.owner_id]
        return [*owner, *super().conditions()]


def visible_page(db: Session, user: User, query: ItemListQuery) -> Page[ItemPublic]:
    """The items `user` may see (an admin: all) that `query` asks for."""
    own = [] if user.role == Role.ADMIN else [col(Item.owner_id) == user.id]
    return fetch_page(db, query, ItemPublic, filters=own)


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
    """Delete an item `user` may see."""
    item = visible_item(db, user, item_id)
    deleted = db.exec(sql_delete(Item).where(col(Item.id) == item.id))
    if deleted.rowcount != 1:  # another request deleted it meanwhile
        raise AppError(ErrorCode.ITEM_NOT_FOUND)


@router.get("", operation_id="items-list", responses=PAGE_HEADERS)
async def list_items(
    query: Annotated[ItemListQuery, Query()], caller: SignedIn, response: Response
) -> Page[ItemPublic]:
    """The caller's items (an admin's: everyone's), one page at a time; `q` searches titles."""
    return counted(response, await caller.read(visible_page, query))


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="items-create")
async def create_item(body: ItemCreate, caller: SignedIn) -> ItemPublic:
    """Create an item owned by the caller."""
    return ItemPublic.model_validate(await caller.run(create, body))


@router.get("/{itemId}", operation_id="items-read", responses=NOT_FOUND)
async def read_item(item_id: ItemId, caller: SignedIn) -> ItemPublic:
    """One item by id."""
    return ItemPublic.model_validate(await caller.read(visible_item, item_id))


@router.patch("/{itemId}", operation_id="items-update", responses=NOT_FOUND)
async def update_item(item_id: ItemId, body: ItemUpdate, caller: SignedIn) -> ItemPublic:
    """Change an item's title or description."""
    return ItemPublic.model_validate(await caller.run(update, item_id, body))


@router.delete(
    "/{itemId}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="items-delete",
    responses=NOT_FOUND,
)
async def delete_item(item_id: ItemId, caller: SignedIn) -> None:
    """Delete an item."""
    await caller.run(delete, item_id)
