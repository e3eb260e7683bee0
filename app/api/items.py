"""Items: the example resource (`/items`). Copy this module, with its rules in
`app/services/items.py`, to add your own (see the README).

An item the caller may not see answers 404, never 403: ids of others' items leak nothing.
"""

import uuid
from typing import Annotated

from fastapi import Path, Query, Response

from app.api.csv_io import CSV_DOWNLOAD, CSV_UPLOAD, CsvResponse, CsvUpload, csv_download
from app.api.deps import CurrentUser, OwnSessionsDep, SessionDep, SettingsDep
from app.api.routing import feature_router
from app.core.errors import SIGNED_IN, ErrorCode, responses
from app.core.pagination import PAGE_HEADERS, Page, counted
from app.models.items import ItemCreate, ItemPublic, ItemUpdate
from app.models.payloads import CsvImported
from app.services import exports, imports, items
from app.services.items import ItemFilter, ItemListQuery

router = feature_router("/items", "items", *SIGNED_IN)
ItemId = Annotated[uuid.UUID, Path(alias="itemId", description="The item's id")]
NOT_FOUND = responses(ErrorCode.ITEM_NOT_FOUND)


@router.get("", operation_id="items-list", responses=PAGE_HEADERS)
def list_items(
    query: Annotated[ItemListQuery, Query()], db: SessionDep, user: CurrentUser, response: Response
) -> Page[ItemPublic]:
    """The caller's items (an admin's: everyone's), one page at a time; `q` searches titles."""
    return counted(response, items.visible_page(db, user, query))


@router.post("", status_code=201, operation_id="items-create")
def create_item(body: ItemCreate, db: SessionDep, user: CurrentUser) -> ItemPublic:
    """Create an item owned by the caller."""
    return ItemPublic.model_validate(items.create(db, user, body))


@router.get(
    "/export.csv", operation_id="items-export", response_class=CsvResponse, responses=CSV_DOWNLOAD
)
def export_items(
    query: Annotated[ItemFilter, Query()],
    db: SessionDep,
    user: CurrentUser,
    sessions: OwnSessionsDep,
    settings: SettingsDep,
) -> CsvResponse:
    """The caller's items that the filters select, as a CSV file (an admin's: everyone's):
    the list's filters and sort, no paging, at most CSV_EXPORT_MAX_ROWS rows."""
    found = exports.export(
        db, sessions.read, query, ItemPublic, filters=items.visible_to(user),
        max_rows=settings.csv_export_max_rows,
    )  # fmt: skip
    return csv_download("items", found)


@router.post(
    "/import",
    status_code=201,
    operation_id="items-import",
    responses=CSV_UPLOAD,
)
def import_items(
    upload: CsvUpload, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> CsvImported:
    """Create an item owned by the caller for each row of a CSV file (the fields of
    `POST /items`: `title`, `description`); every row is checked first, and all are
    created or none (422 lists every bad row)."""
    created = imports.import_owned(
        db, user, data=upload, max_rows=settings.csv_import_max_rows,
        payload=ItemCreate, public=ItemPublic, create=items.create,
    )  # fmt: skip
    return CsvImported(created=created)


@router.get("/{itemId:row}", operation_id="items-read", responses=NOT_FOUND)
def read_item(item_id: ItemId, db: SessionDep, user: CurrentUser) -> ItemPublic:
    """One item by id."""
    return ItemPublic.model_validate(items.visible_item(db, user, item_id))


@router.patch("/{itemId:row}", operation_id="items-update", responses=NOT_FOUND)
def update_item(item_id: ItemId, body: ItemUpdate, db: SessionDep, user: CurrentUser) -> ItemPublic:
    """Change an item's title or description."""
    return ItemPublic.model_validate(items.update(db, user, item_id, body))


@router.delete(
    "/{itemId:row}",
    status_code=204,
    operation_id="items-delete",
    responses=NOT_FOUND,
)
def delete_item(item_id: ItemId, db: SessionDep, user: CurrentUser) -> None:
    """Delete an item."""
    items.delete(db, user, item_id)
