"""Items: the example resource. Copy this module to add your own (see the README).

Owners see and change their own items; admins see and change all of them. An item
the caller may not see answers 404, never 403, so ids of others' items leak nothing.
"""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from sqlmodel import col

from app.deps import CurrentUser, SessionDep
from app.errors import AUTHENTICATED, not_found, responses
from app.models import Item, ItemCreate, ItemPublic, ItemUpdate, Role, utcnow
from app.pagination import ListQuery, Page, fetch_page

router = APIRouter(prefix="/items", tags=["items"], responses=AUTHENTICATED)

ItemSort = Literal["createdAt", "-createdAt", "updatedAt", "-updatedAt", "title", "-title"]
ITEM_SORT_COLUMNS = {
    "createdAt": col(Item.created_at),
    "updatedAt": col(Item.updated_at),
    "title": col(Item.title),
}
NOT_FOUND = responses({404: "No such item, or not the caller's"})


class ItemListQuery(ListQuery):
    sort: ItemSort = "-createdAt"
    owner_id: uuid.UUID | None = None


@router.get("", operation_id="items-list")
def list_items(
    query: Annotated[ItemListQuery, Query()],
    user: CurrentUser,
    session: SessionDep,
    response: Response,
) -> Page[ItemPublic]:
    """The caller's items (an admin's: everyone's), one page at a time; `q` searches titles."""
    filters = []
    if user.role != Role.ADMIN:
        filters.append(col(Item.owner_id) == user.id)
    if query.owner_id is not None:
        filters.append(col(Item.owner_id) == query.owner_id)
    rows, total = fetch_page(
        session,
        Item,
        query,
        response=response,
        filters=filters,
        sort_columns=ITEM_SORT_COLUMNS,
        search_columns=[col(Item.title)],
    )
    return Page[ItemPublic](items=rows, total=total, offset=query.offset, limit=query.limit)


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="items-create")
def create_item(body: ItemCreate, user: CurrentUser, session: SessionDep) -> ItemPublic:
    """Create an item owned by the caller."""
    item = Item.model_validate(body, update={"owner_id": user.id})
    session.add(item)
    session.commit()
    return ItemPublic.model_validate(item)


def get_visible_item(item_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Item:
    """The item named in the path if the caller may see it, else 404."""
    item = session.get(Item, item_id)
    if item is None or (user.role != Role.ADMIN and item.owner_id != user.id):
        raise not_found("Item")
    return item


VisibleItem = Annotated[Item, Depends(get_visible_item)]


@router.get("/{item_id}", operation_id="items-read", responses=NOT_FOUND)
async def read_item(item: VisibleItem) -> ItemPublic:
    """One item by id."""
    return ItemPublic.model_validate(item)


@router.patch("/{item_id}", operation_id="items-update", responses=NOT_FOUND)
def update_item(body: ItemUpdate, item: VisibleItem, session: SessionDep) -> ItemPublic:
    """Change an item's title or description."""
    changes = body.model_dump(exclude_unset=True)
    if changes:
        item.sqlmodel_update(changes)
        item.updated_at = utcnow()
        session.add(item)
        session.commit()
    return ItemPublic.model_validate(item)


@router.delete(
    "/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="items-delete",
    responses=NOT_FOUND,
)
def delete_item(item: VisibleItem, session: SessionDep) -> None:
    """Delete an item."""
    session.delete(item)
    session.commit()
