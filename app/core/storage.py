"""Where attachments' bytes are kept: one small interface, `Storage`, over a local
directory (the default) or an S3-compatible bucket (`app.core.s3_storage`).

Objects are named by the service with generated keys (32 hex digits), never by a
client: a name from an upload cannot reach the file system or the bucket, so path
traversal is impossible by construction. Every call blocks: callers run it on a
thread, never on the event loop.

Objects whose rows are deleted go once the deletion is committed (`delete_after_commit`):
never before, so a rolled-back deletion loses nothing. A crash in between leaves an
object without a row, which `python -m app cleanup` removes.
"""

import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.storage_settings import StorageSettings

logger = logging.getLogger(__name__)

KEY = re.compile(r"[0-9a-f]{32}")
PARTIAL = ".part"
CHUNK_BYTES = 64 * 1024
STORAGE_INFO = "storage"
TO_DELETE_INFO = "stored_objects_to_delete"


class StoredObjectMissing(Exception):
    """The storage holds no object under this key."""


class Readable(Protocol):
    """A stored object opened for reading."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Storage(Protocol):
    """Keeps objects under keys made by `new_key`."""

    def save(self, key: str, source: BinaryIO) -> None:
        """Store what `source` holds (read from its start) under `key`."""

    def open(self, key: str) -> Readable:
        """The object `key`, to read; `StoredObjectMissing` if there is none."""

    def delete(self, key: str) -> None:
        """Remove the object `key` (nothing happens if there is none)."""

    def listing(self) -> Iterator[tuple[str, datetime]]:
        """Every stored object's key, with when it was last written."""


def new_key() -> str:
    """A fresh object key: 32 random hex digits."""
    return uuid.uuid4().hex


def chunks(source: Readable) -> Iterator[bytes]:
    """What `source` holds, CHUNK_BYTES at a time; it is closed at the end."""
    try:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk
    finally:
        source.close()


class LocalStorage:
    """Objects as files in one directory, each written whole under a temporary name
    first (`<key>.part`) and then renamed, so no reader ever sees half an object."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()

    def _path(self, name: str) -> Path:
        if not KEY.fullmatch(name.removesuffix(PARTIAL)):
            raise ValueError("not a storage key")
        return self.directory / name

    def save(self, key: str, source: BinaryIO) -> None:
        """Write `source` to `<key>.part`, then rename it to `key`."""
        final, partial = self._path(key), self._path(key + PARTIAL)
        self.directory.mkdir(parents=True, exist_ok=True)
        source.seek(0)
        try:
            with partial.open("xb") as target:
                while chunk := source.read(CHUNK_BYTES):
                    target.write(chunk)
            partial.replace(final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def open(self, key: str) -> Readable:
        """The file of `key`, opened for reading."""
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise StoredObjectMissing(key) from None

    def delete(self, key: str) -> None:
        """Remove the file of `key` (or a partial one left by a crash)."""
        self._path(key).unlink(missing_ok=True)

    def listing(self) -> Iterator[tuple[str, datetime]]:
        """The files named like keys (partial ones too), with their modification times."""
        if not self.directory.is_dir():
            return
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if KEY.fullmatch(entry.name.removesuffix(PARTIAL)) and entry.is_file():
                    modified = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                    yield entry.name, modified


def open_storage(settings: StorageSettings) -> Storage:
    """The storage the settings name: ATTACHMENT_DIR, or the S3 bucket."""
    if settings.attachment_storage == "s3":
        from app.core.s3_storage import S3Storage  # boto3 is loaded only when used

        return S3Storage(settings)
    return LocalStorage(settings.attachment_dir)


def delete_after_commit(db: Session, keys: Iterable[str]) -> None:
    """Remove the objects `keys` from the session's storage once its transaction
    commits (a rollback keeps them)."""
    db.info.setdefault(TO_DELETE_INFO, []).extend(keys)


@event.listens_for(Session, "after_commit")
def _delete_committed(db: Session) -> None:
    keys: list[str] = db.info.pop(TO_DELETE_INFO, [])
    storage: Storage | None = db.info.get(STORAGE_INFO)
    if not keys:
        return
    if storage is None:  # a session of no app: `python -m app cleanup` will find them
        logger.warning("%d stored objects left for `python -m app cleanup`", len(keys))
        return
    for key in keys:
        try:
            storage.delete(key)
        except Exception:
            logger.exception("Could not delete stored object %s: `python -m app cleanup` will", key)


@event.listens_for(Session, "after_rollback")
def _keep_on_rollback(db: Session) -> None:
    db.info.pop(TO_DELETE_INFO, None)
