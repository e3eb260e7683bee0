"""Files of items (`/items/{itemId}/files`): upload, list, read, download, delete,
under the items' rules: another user's item or file answers 404, never 403.

An upload is `multipart/form-data` with one field, `file`. It is received into a
temporary file (never held whole in memory) within its own body limit,
ATTACHMENT_MAX_BYTES (413 past it, before anything is stored), and accepted by the
type its bytes show (415 otherwise). A download is always an attachment, sent while
it is read, with a sandboxing Content Security Policy: an uploaded page or picture
never runs as this site's.
"""

import uuid
from typing import Annotated

from fastapi import Depends, File, Path, Request, UploadFile
from fastapi.responses import StreamingResponse

from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.api.routing import feature_router
from app.core.errors import SIGNED_IN, AppError, ErrorCode, Responses, responses
from app.core.file_types import content_disposition, served_type
from app.core.state import app_state
from app.core.storage import Storage, StoredObjectMissing, chunks
from app.models.attachments import Attachment, AttachmentPublic
from app.services import attachments
from app.services.attachments import Accepted, Upload

router = feature_router(
    "/items/{itemId:row}/files", "item files", *SIGNED_IN, ErrorCode.ITEM_NOT_FOUND
)
ItemId = Annotated[uuid.UUID, Path(alias="itemId", description="The item's id")]
FileId = Annotated[uuid.UUID, Path(alias="fileId", description="The file's id")]
NOT_FOUND = responses(ErrorCode.ITEM_NOT_FOUND, ErrorCode.ATTACHMENT_NOT_FOUND)
UPLOAD_ERRORS = responses(
    ErrorCode.ITEM_NOT_FOUND,
    ErrorCode.ATTACHMENT_TOO_LARGE,
    ErrorCode.BODY_TOO_LARGE,
    ErrorCode.ATTACHMENT_TYPE_NOT_ALLOWED,
)
# Downloads: never shown inline, never run as this site's page (any type uploaded).
DOWNLOAD_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-cache",
}
DOWNLOAD: Responses = {
    200: {
        "description": "The file's bytes, as an attachment",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        "headers": {
            "Content-Disposition": {
                "description": "attachment; filename=\"...\"; filename*=UTF-8''...",
                "schema": {"type": "string"},
            }
        },
    },
    **NOT_FOUND,
}


def file_download(storage: Storage, found: Attachment) -> StreamingResponse:
    """The bytes of `found`, streamed as an attachment that never runs as a page."""
    try:
        stored = storage.open(found.storage_key)
    except StoredObjectMissing:
        raise AppError(ErrorCode.ATTACHMENT_NOT_FOUND) from None
    headers = {
        **DOWNLOAD_HEADERS,
        "Content-Disposition": content_disposition(found.filename),
        "Content-Length": str(found.size),
    }
    media_type = served_type(found.content_type)
    return StreamingResponse(chunks(stored), media_type=media_type, headers=headers)


async def get_storage(request: Request) -> Storage:
    """Where the app keeps the files' bytes."""
    return app_state(request.app).database.storage


@router.post(
    "", status_code=201, operation_id="items-files-upload",
    responses=UPLOAD_ERRORS,
)  # fmt: skip
def upload_file(
    item_id: ItemId,
    file: Annotated[UploadFile, File(description="The file (its content decides its type)")],
    db: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    storage: Annotated[Storage, Depends(get_storage)],
) -> AttachmentPublic:
    """Attach a file to an item (at most ATTACHMENT_MAX_BYTES, of a type in
    ATTACHMENT_CONTENT_TYPES, judged by its bytes)."""
    accepted = Accepted(settings.attachment_max_bytes, settings.attachment_content_types)
    upload = Upload(file.file, file.filename)
    added = attachments.add(db, storage, user, item_id, upload, accepted)
    return AttachmentPublic.model_validate(added)


@router.get("", operation_id="items-files-list")
def list_files(item_id: ItemId, db: SessionDep, user: CurrentUser) -> list[AttachmentPublic]:
    """The item's files, oldest first."""
    found = attachments.listed(db, user, item_id)
    return [AttachmentPublic.model_validate(attachment) for attachment in found]


@router.get("/{fileId:row}", operation_id="items-files-read", responses=NOT_FOUND)
def read_file(
    item_id: ItemId, file_id: FileId, db: SessionDep, user: CurrentUser
) -> AttachmentPublic:
    """One file's name, type and size."""
    return AttachmentPublic.model_validate(attachments.visible(db, user, item_id, file_id))


@router.get(
    "/{fileId:row}/content", operation_id="items-files-download",
    response_class=StreamingResponse, responses=DOWNLOAD,
)  # fmt: skip
def download_file(
    item_id: ItemId,
    file_id: FileId,
    db: SessionDep,
    user: CurrentUser,
    storage: Annotated[Storage, Depends(get_storage)],
) -> StreamingResponse:
    """The file's bytes, as an attachment under its name."""
    return file_download(storage, attachments.visible(db, user, item_id, file_id))


@router.delete(
    "/{fileId:row}", status_code=204, operation_id="items-files-delete",
    responses=NOT_FOUND,
)  # fmt: skip
def delete_file(item_id: ItemId, file_id: FileId, db: SessionDep, user: CurrentUser) -> None:
    """Delete a file; its bytes are removed once the deletion is done."""
    attachments.delete(db, user, item_id, file_id)
