"""The Items screen: every user's items, with their owners; create, edit, delete (the
rows ticked, at once); export and import as CSV.

Changes go through the item rules of the API (`items.create`, `update`, `delete`)
as the signed-in admin, who may see and change every item; like `POST /items`, a
new item (an imported one too) belongs to whoever creates it.
"""

import uuid
from typing import Any

from starlette.requests import Request
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired

from app.admin import bulk
from app.admin.auth import SignedIn
from app.admin.csv_pages import CsvScreen
from app.admin.forms import TEXT, BackOfficeForm
from app.admin.views import FormError, parse_id, validated
from app.core.errors import ErrorCode
from app.models.items import Item, ItemCreate, ItemPublic, ItemUpdate
from app.models.users import User
from app.services import imports, items
from app.services.items import ItemFilter


class ItemForm(BackOfficeForm):
    """What the create and edit pages ask for; `ItemCreate`/`ItemUpdate` check it."""

    title = StringField("Title", [InputRequired()], render_kw=TEXT)
    description = TextAreaField("Description", render_kw={**TEXT, "rows": 6})


def _item_id(pk: object) -> uuid.UUID:
    item_id = parse_id(pk)
    if item_id is None:
        raise FormError(ErrorCode.ITEM_NOT_FOUND.message)
    return item_id


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    return {"title": data.get("title") or "", "description": data.get("description") or None}


class ItemAdmin(CsvScreen, model=Item):
    name, name_plural, icon = "Item", "Items", "fa-solid fa-box"
    csv_name, csv_filter, csv_public = "items", ItemFilter, ItemPublic
    csv_columns = "title, description (the items are yours)"
    column_list = ["title", "owner", "created_at", "updated_at"]
    column_details_list = ["id", "title", "description", "owner", "created_at", "updated_at"]
    column_labels = {
        "id": "Id",
        "title": "Title",
        "description": "Description",
        "owner": "Owner",
        "owner.email": "owner's email",
        "created_at": "Created",
        "updated_at": "Updated",
    }
    column_searchable_list = ["title", "owner.email"]
    column_sortable_list = ["title", "created_at", "updated_at"]
    column_default_sort = [("created_at", True)]
    form = ItemForm
    form_columns = ["title", "description"]  # what an edit form starts from

    def label(self, row: Any) -> str:
        item: Item = row
        return item.title

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Item:
        body = validated(ItemCreate, _fields(data))
        return await self.write(request, items.create, _admin(request), body)

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Item:
        body = validated(ItemUpdate, _fields(data))
        return await self.write(request, items.update, _admin(request), _item_id(pk), body)

    async def remove(self, request: Request, ids: list[uuid.UUID]) -> None:
        await self.write(request, bulk.delete_each, items.delete, _admin(request), ids=ids)

    async def import_rows(self, request: Request, data: bytes) -> int:
        return await self.write(
            request, imports.import_owned, _admin(request), data=data,
            max_rows=self.state.settings.csv_import_max_rows,
            payload=ItemCreate, public=ItemPublic, create=items.create,
        )  # fmt: skip


def _admin(request: Request) -> User:
    signed_in: SignedIn = request.state.back_office
    return signed_in.user
