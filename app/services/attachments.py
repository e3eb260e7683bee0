"""Attachments: files uploaded to items, under the items' rules (owners see and
change the files of their items; admins those of all items; anything else is not
found, never forbidden).

A file is checked before anything is stored: its size (ATTACHMENT_MAX_BYTES, else
`ATTACHMENT_TOO_LARGE`) and the type its bytes show (ATTACHMENT_CONTENT_TYPES, else
`ATTACHMENT_TYPE_NOT_ALLOWED`). Its bytes go to the storage under a generated key,
then its row is written; a failure in between removes the object again, and a crash
leaves one that `python -m app cleanup` removes (`delete_orphans`). Deleting a file, an item
or a user removes the stored objects once the deletion is committed.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel import delete as sql_delete

from app.core.errors import AppError, ErrorCode
from app.core.file_types import SNIFF_BYTES, clean_filename, sniff
from app.core.storage import PARTIAL, STORAGE_INFO, Storage, delete_after_commit, new_key
from app.models import User
from app.models.attachments import Attachment
from app.services import audit, items
from app.services.audit import AuditAction

ORPHAN_BATCH = 500
ORPHAN_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Upload:
    """A file as it was received: its bytes (in a file, never all in memory) and the
    name the client gave it."""

    file: BinaryIO
    filename: str | None


@dataclass(frozen=True)
class Accepted:
    """What uploads may be: at most `max_bytes`, of one of `content_types`."""

    max_bytes: int
    content_types: Sequence[str]


def _checked(upload: Upload, accepted: Accepted) -> tuple[int, str]:
    """The upload's size and sniffed type, if both are accepted."""
    size = upload.file.seek(0, 2)
    if size > accepted.max_bytes:
        raise AppError(ErrorCode.ATTACHMENT_TOO_LARGE)
    upload.file.seek(0)
    content_type = sniff(upload.file.read(SNIFF_BYTES))
    if content_type not in accepted.content_types:
        raise AppError(ErrorCode.ATTACHMENT_TYPE_NOT_ALLOWED)
    return size, content_type


def add(
    db: Session, storage: Storage, user: User, item_id: uuid.UUID, upload: Upload,
    accepted: Accepted,
) -> Attachment:  # fmt: skip
    """Attach `upload` to an item `user` may see. Commits once the item is found, so
    that no connection is held while the bytes are stored."""
    items.visible_item(db, user, item_id)
    size, content_type = _checked(upload, accepted)
    db.commit()
    key = new_key()
    storage.save(key, upload.file)
    attachment = Attachment(
        item_id=item_id, storage_key=key, filename=clean_filename(upload.filename),
        content_type=content_type, size=size,
    )  # fmt: skip
    try:
        db.add(attachment)
        db.flush()
    except IntegrityError:  # the item was deleted meanwhile
        storage.delete(key)
        raise AppError(ErrorCode.ITEM_NOT_FOUND) from None
    except BaseException:
        storage.delete(key)
        raise
    return attachment


def listed(db: Session, user: User, item_id: uuid.UUID) -> list[Attachment]:
    """The files of an item `user` may see, oldest first."""
    items.visible_item(db, user, item_id)
    query = (
        select(Attachment)
        .where(col(Attachment.item_id) == item_id)
        .order_by(col(Attachment.created_at), col(Attachment.id))
    )
    return list(db.exec(query).all())


def visible(db: Session, user: User, item_id: uuid.UUID, attachment_id: uuid.UUID) -> Attachment:
    """The file `attachment_id` of an item `user` may see, else not found."""
    items.visible_item(db, user, item_id)
    attachment = db.get(Attachment, attachment_id)
    if attachment is None or attachment.item_id != item_id:
        raise AppError(ErrorCode.ATTACHMENT_NOT_FOUND)
    return attachment


def delete(db: Session, user: User, item_id: uuid.UUID, attachment_id: uuid.UUID) -> None:
    """Delete a file of an item `user` may see; its bytes go once this commits."""
    attachment = visible(db, user, item_id, attachment_id)
    deleted = db.exec(sql_delete(Attachment).where(col(Attachment.id) == attachment.id))
    if deleted.rowcount != 1:  # another request deleted it meanwhile
        raise AppError(ErrorCode.ATTACHMENT_NOT_FOUND)
    delete_after_commit(db, [attachment.storage_key])
    audit.record(
        db, AuditAction.RESOURCE_DELETED, target_type="attachment", target_id=attachment.id,
        target_label=attachment.filename,
    )  # fmt: skip


def delete_orphans(db: Session, *, now: datetime) -> int:
    """Remove the stored objects that no row names and that are older than
    ORPHAN_GRACE (a younger one may be an upload whose row is not committed yet);
    returns how many. Such objects are left by a crash between an object's storing
    and its row's commit, or between a deletion's commit and its object's removal."""
    storage: Storage = db.info[STORAGE_INFO]
    removed, batch = 0, list[str]()
    for key, written in storage.listing():
        if written < now - ORPHAN_GRACE:
            batch.append(key)
        if len(batch) >= ORPHAN_BATCH:
            removed, batch = removed + _delete_unnamed(db, storage, batch), []
    return removed + _delete_unnamed(db, storage, batch)


def _delete_unnamed(db: Session, storage: Storage, keys: list[str]) -> int:
    if not keys:
        return 0
    # `<key>.part`: a local file that a crash left half written
    names = {key.removesuffix(PARTIAL) for key in keys}
    query = select(Attachment.storage_key).where(col(Attachment.storage_key).in_(names))
    named = set(db.exec(query))
    orphans = [key for key in keys if key.removesuffix(PARTIAL) not in named]
    for key in orphans:
        storage.delete(key)
    return len(orphans)
