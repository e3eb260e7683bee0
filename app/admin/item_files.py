"""The files of an item on its back-office page: listed with download links, one
uploaded or deleted at a time, through the API's rules (`app.services.attachments`)
as the signed-in admin. The forms carry the sign-in's CSRF token like every form
here; an upload has the API's limits (ATTACHMENT_MAX_BYTES, the accepted types).
"""

import uuid
from functools import partial
from typing import Any

from sqladmin import expose
from sqlmodel import Session
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.auth import SignedIn
from app.admin.items import ItemAdmin
from app.admin.notices import notify
from app.admin.views import FormError, parse_id
from app.api.attachments import file_download
from app.core.errors import AppError, ErrorCode
from app.core.storage import STORAGE_INFO
from app.models import Item, User
from app.models.attachments import Attachment
from app.services import attachments
from app.services.attachments import Accepted, Upload

NO_FILE = "Choose a file to upload."


def _admin(request: Request) -> User:
    signed_in: SignedIn = request.state.back_office
    return signed_in.user


def _ids(request: Request) -> tuple[uuid.UUID, uuid.UUID]:
    """The item and file the path names (a path id that is no UUID names none: 404)."""
    item_id = parse_id(request.path_params.get("pk"))
    if item_id is None:
        raise AppError(ErrorCode.ITEM_NOT_FOUND)
    file_id = parse_id(request.path_params.get("file_id", str(item_id)))
    if file_id is None:
        raise AppError(ErrorCode.ATTACHMENT_NOT_FOUND)
    return item_id, file_id


class ItemFilesAdmin(ItemAdmin, model=Item):
    """The Items screen, each item's page with its files (`sqladmin/item_details.html`)."""

    details_template = "sqladmin/item_details.html"

    async def details_context(self, request: Request) -> dict[str, Any]:
        """The item's files, for its page."""
        item_id = parse_id(request.path_params.get("pk"))
        if item_id is None:
            return {"files": []}
        listed = partial(self._read, attachments.listed, _admin(request), item_id)
        return {"files": await self.state.threads.run(listed, writes=False)}

    def _read(self, fn: Any, *args: Any) -> Any:
        with self.state.database.session(read_only=True) as db:
            return fn(db, *args)

    @expose("/files/{pk}", methods=["POST"])
    async def upload_file(self, request: Request) -> Response:
        """Attach the file the form sends to the item."""
        upload = (await request.form()).get("file")
        settings = self.state.settings
        accepted = Accepted(settings.attachment_max_bytes, settings.attachment_content_types)
        item_id, _ = _ids(request)
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise FormError(NO_FILE)
            added: Attachment = await self.write(
                request, _add, _admin(request), item_id, Upload(upload.file, upload.filename),
                accepted,
            )  # fmt: skip
        except FormError as error:
            notify(request, f"Not uploaded: {error}")
            return self._back(request)
        notify(request, f'File "{added.filename}" uploaded.')
        return self._back(request)

    @expose("/files/{pk}/{file_id}", methods=["GET"])
    async def download_file(self, request: Request) -> Response:
        """One file of the item, as the API sends it."""
        item_id, file_id = _ids(request)
        found = partial(self._read, attachments.visible, _admin(request), item_id, file_id)
        attachment: Attachment = await self.state.threads.run(found, writes=False)
        storage = self.state.database.storage
        return await self.state.threads.run(file_download, storage, attachment, writes=False)

    @expose("/files/{pk}/{file_id}/delete", methods=["POST"])
    async def delete_file(self, request: Request) -> Response:
        """Delete one file of the item."""
        item_id, file_id = _ids(request)
        try:
            await self.write(request, attachments.delete, _admin(request), item_id, file_id)
        except FormError as error:
            notify(request, f"Not deleted: {error}")
            return self._back(request)
        notify(request, "File deleted.")
        return self._back(request)

    def _back(self, request: Request) -> Response:
        pk = request.path_params["pk"]
        return RedirectResponse(
            request.url_for("admin:details", identity=self.identity, pk=pk), 303
        )


def _add(
    db: Session, user: User, item_id: uuid.UUID, upload: Upload, accepted: Accepted
) -> Attachment:
    return attachments.add(db, db.info[STORAGE_INFO], user, item_id, upload, accepted)
