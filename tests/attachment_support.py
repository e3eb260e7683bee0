"""What the attachment tests share: an app whose files go to a directory or to a
real S3-compatible server (moto), and helpers to upload and to see what is stored."""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response

from tests.helpers import API, Account
from tests.s3_server import S3Server

ITEMS = f"{API}/items"
LIMIT = 256 * 1024  # ATTACHMENT_MAX_BYTES of the tests' apps
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
BOUNDARY = "attachment-test-boundary"


@dataclass(frozen=True)
class Files:
    """A test app and a look at its storage."""

    client: TestClient
    stored: Callable[[], list[str]]


def local_files(make_client: Callable[..., TestClient], directory: Path, **settings: Any) -> Files:
    """An app keeping its files in `directory`."""
    client = make_client(attachment_dir=directory, attachment_max_bytes=LIMIT, **settings)
    return Files(client, lambda: sorted(p.name for p in directory.glob("*")))


def s3_files(make_client: Callable[..., TestClient], s3: S3Server, **settings: Any) -> Files:
    """An app keeping its files in a new bucket of `s3`."""
    bucket = s3.new_bucket()
    client = make_client(**s3.settings(bucket), attachment_max_bytes=LIMIT, **settings)
    return Files(client, lambda: s3.keys(bucket))


def new_item(client: TestClient, account: Account) -> str:
    """The id of a new item of `account`."""
    response = client.post(ITEMS, json={"title": "With files"}, headers=account.headers)
    assert response.status_code == 201, response.text
    item_id: str = response.json()["id"]
    return item_id


def files_url(item_id: str, file_id: str | None = None, *, content: bool = False) -> str:
    """`/items/{itemId}/files[/{fileId}[/content]]`."""
    url = f"{ITEMS}/{item_id}/files"
    if file_id is not None:
        url += f"/{file_id}"
    return url + "/content" if content else url


def upload(
    client: TestClient, account: Account, item_id: str, data: bytes = PNG,
    filename: str = "picture.png", content_type: str = "image/png",
) -> Response:  # fmt: skip
    """POST a file to an item as `account`."""
    form = {"file": (filename, data, content_type)}
    return client.post(files_url(item_id), files=form, headers=account.headers)


def uploaded(client: TestClient, account: Account, item_id: str, **kwargs: Any) -> dict[str, Any]:
    """Upload (asserting 201); returns the file's body."""
    response = upload(client, account, item_id, **kwargs)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def raw_form(filename: bytes, data: bytes = PNG) -> bytes:
    """A multipart form with a file whose name is sent as these very bytes."""
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
    part = b'"\r\nContent-Type: image/png\r\n\r\n'
    return head + filename + part + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def streamed_form(size: int, *, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A multipart form holding a file of `size` bytes, sent in chunks without a
    Content-Length (as a client streams a large upload)."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    yield PNG[:16]
    sent = 16
    while sent < size:
        part = min(chunk, size - sent)
        yield b"\x00" * part
        sent += part
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def form_headers(account: Account) -> dict[str, str]:
    """The headers of `streamed_form`."""
    return {**account.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def random_id() -> str:
    """An id nothing has."""
    return str(uuid.uuid4())
