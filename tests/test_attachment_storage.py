"""The stored bytes of files follow their rows: deleting a file, an item or a user
removes them once committed; a crash in between leaves orphans that `cleanup`
finds and removes. On a directory and on a real S3-compatible server (moto)."""

import io
import os
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app import __main__ as cli
from app.core.config import get_settings
from app.core.state import app_state
from app.core.storage import LocalStorage, Storage
from app.models import User
from app.models.fields import utcnow
from app.services import attachments
from app.services.attachments import Accepted, Upload
from tests.attachment_support import (
    LIMIT,
    PNG,
    Files,
    files_url,
    new_item,
    uploaded,
)
from tests.helpers import API, TEST_SECRET, Account

HOURS_AGO = 2 * 3600


def storage_of(files: Files) -> Storage:
    storage: Storage = app_state(files.client.app).database.storage
    return storage


def test_deleting_an_item_removes_its_files(files: Files, user: Account) -> None:
    kept_item, deleted_item = new_item(files.client, user), new_item(files.client, user)
    kept = uploaded(files.client, user, kept_item)
    for _ in range(2):
        uploaded(files.client, user, deleted_item)

    response = files.client.delete(f"{API}/items/{deleted_item}", headers=user.headers)

    assert response.status_code == 204
    assert len(files.stored()) == 1
    listed = files.client.get(files_url(kept_item), headers=user.headers).json()
    assert [entry["id"] for entry in listed] == [kept["id"]]


def test_deleting_a_user_removes_the_files_of_their_items(
    files: Files, user: Account, other_user: Account, admin: Account
) -> None:
    uploaded(files.client, user, new_item(files.client, user))
    uploaded(files.client, user, new_item(files.client, user))
    uploaded(files.client, other_user, new_item(files.client, other_user))

    response = files.client.delete(f"{API}/users/{user.id}", headers=admin.headers)
    me = files.client.delete(f"{API}/users/me", headers=other_user.headers)

    assert (response.status_code, me.status_code) == (204, 204)
    assert files.stored() == []


def test_a_refused_deletion_keeps_the_files(files: Files, admin: Account) -> None:
    uploaded(files.client, admin, new_item(files.client, admin))

    response = files.client.delete(f"{API}/users/me", headers=admin.headers)

    assert response.status_code == 409  # the last active admin: rolled back
    assert len(files.stored()) == 1


def test_a_crash_after_the_deletion_commits_leaves_an_orphan_that_cleanup_removes(
    files: Files, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id = new_item(files.client, user)
    uploaded(files.client, user, item_id)
    storage = storage_of(files)

    def crash(_key: str) -> None:
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patch:
        patch.setattr(storage, "delete", crash)
        response = files.client.delete(f"{API}/items/{item_id}", headers=user.headers)
    assert response.status_code == 204  # the rows are gone, the object is not
    assert len(files.stored()) == 1

    assert cleanup(files, now=utcnow()) == 0  # too young: it may be an upload in flight
    assert cleanup(files, now=utcnow() + timedelta(hours=2)) == 1
    assert files.stored() == []


def test_a_crash_before_the_row_commits_leaves_an_orphan_that_cleanup_removes(
    files: Files, user: Account
) -> None:
    kept = uploaded(files.client, user, new_item(files.client, user))
    database = app_state(files.client.app).database
    with database.session() as db:  # stored, row flushed, then the process dies: no commit
        owner = db.get(User, user.id)
        assert owner is not None
        attachments.add(
            db, database.storage, owner, uuid.UUID(kept["itemId"]),
            Upload(_png_file(), "lost.png"), Accepted(LIMIT, ["image/png"]),
        )  # fmt: skip
        db.rollback()
    assert len(files.stored()) == 2

    assert cleanup(files, now=utcnow() + timedelta(hours=2)) == 1
    assert len(files.stored()) == 1
    download = files.client.get(
        files_url(kept["itemId"], kept["id"], content=True), headers=user.headers
    )
    assert download.content == PNG


def cleanup(files: Files, *, now: datetime) -> int:
    database = app_state(files.client.app).database
    with database.session(read_only=True) as db:
        return attachments.delete_orphans(db, now=now)


def _png_file() -> io.BytesIO:
    return io.BytesIO(PNG)


def test_the_cleanup_command_removes_old_orphans_and_partial_files(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    directory = tmp_path / "files"
    storage = LocalStorage(directory)
    for key in ("a" * 32, "b" * 32):
        storage.save(key, _png_file())
    (directory / ("c" * 32 + ".part")).write_bytes(b"half")
    (directory / "not-ours.txt").write_bytes(b"left alone")
    old = time.time() - HOURS_AGO
    for name in ("a" * 32, "c" * 32 + ".part"):
        os.utime(directory / name, (old, old))
    for name, value in {
        "ENVIRONMENT": "test", "DATABASE_URL": database_url, "JWT_SECRET_KEY": TEST_SECRET,
        "ATTACHMENT_DIR": str(directory),
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    try:
        assert cli.main(["cleanup"]) == 0
    finally:
        get_settings.cache_clear()

    assert "2 stored files without a row" in capsys.readouterr().out
    assert sorted(path.name for path in directory.iterdir()) == ["b" * 32, "not-ours.txt"]
