"""Items: the example resource (`/items`). Copy this module, with its rules in
`app/services/items.py`, to add your own (see the README).

An item the caller may not see answers 404, never 403: ids of others' items leak nothing.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.api.deps import CurrentUser, SessionDep
from app.api.routing import ThreadedRoute
from app.core.errors import SIGNED_IN, ErrorCode, responses
from app.core.pagination import PAGE_HEADERS, Page, counted
from app.models.items import ItemCreate, ItemPublic, ItemUpdate
from app.services import items
from app.services.items import ItemListQuery

router = APIRouter(
    prefix="/items", tags=["items"], responses=responses(*SIGNED_IN), route_class=ThreadedRoute
)
ItemId = Annotated[uuid.UUID, Path(alias="itemId", description="The item's id")]
NOT_FOUND = responses(ErrorCode.ITEM_NOT_FOUND)


@router.get("", operation_id="items-list", responses=PAGE_HEADERS)
def list_items(
    query: Annotated[ItemListQuery, Query()], db: SessionDep, user: CurrentUser, response: Response
) -> Page[ItemPublic]:
    """The caller's items (an admin's: everyone's), one page at a time; `q` searches titles."""
    return counted(response, items.visible_page(db, user, query))


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="items-create")
def create_item(body: ItemCreate, db: SessionDep, user: CurrentUser) -> ItemPublic:
    """Create an item owned by the caller."""
    return ItemPublic.model_validate(items.create(db, user, body))


@router.get("/{itemId}", operation_id="items-read", responses=NOT_FOUND)
def read_item(item_id: ItemId, db: SessionDep, user: CurrentUser) -> ItemPublic:
    """One item by id."""
    return ItemPublic.model_validate(items.visible_item(db, user, item_id))


@router.patch("/{itemId}", operation_id="items-update", responses=NOT_FOUND)
def update_item(item_id: ItemId, body: ItemUpdate, db: SessionDep, user: CurrentUser) -> ItemPublic:
    """Change an item's title or description."""
    return ItemPublic.model_validate(items.update(db, user, item_id, body))


@router.delete(
    "/{itemId}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="items-delete",
    responses=NOT_FOUND,
)
def delete_item(item_id: ItemId, db: SessionDep, user: CurrentUser) -> None:
    """Delete an item."""
    items.delete(db, user, item_id)
