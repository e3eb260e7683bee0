"""The limit app of scenario (k): a stored file sent from disk with the least work.

It checks the JWT and its session as `bench/limit_app.py` does, finds the file's key
with one query (the file of the caller's item), and sends the file in 64 KiB chunks
read straight from the event loop. Environment: JWT_SECRET_KEY, LIMIT_DSN,
LIMIT_ATTACHMENT_DIR (the service's ATTACHMENT_DIR).
"""

import os
import re
from pathlib import Path

from starlette.types import Receive, Scope, Send

from bench.limit_app import PostgresStore
from bench.limit_asgi import Json, respond, signed_in_app

CONTENT = re.compile(r"/api/v1/items/([0-9a-f-]{36})/files/([0-9a-f-]{36})/content")
STORED_FILE = """
    SELECT attachments.storage_key, attachments.size FROM attachments
    JOIN items ON items.id = attachments.item_id
    WHERE attachments.id = %s AND items.id = %s AND items.owner_id = %s
"""
CHUNK = 64 * 1024

store = PostgresStore(os.environ["LIMIT_DSN"])
secret = os.environ["JWT_SECRET_KEY"]
directory = Path(os.environ["LIMIT_ATTACHMENT_DIR"])


async def send_file(send: Send, path: Path, size: int) -> None:
    headers = [
        (b"content-type", b"image/png"),
        (b"content-length", b"%d" % size),
        (b"content-disposition", b'attachment; filename="bench.png"'),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    with path.open("rb") as stored:
        while chunk := stored.read(CHUNK):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def send_stored_file(
    scope: Scope, _receive: Receive, send: Send, user_id: str, _user: Json
) -> None:
    found = CONTENT.fullmatch(scope["path"])
    rows = store.query(STORED_FILE, (found[2], found[1], user_id)) if found else []
    if not rows:
        await respond(send, 404, {"detail": "File not found"})
        return
    key, size = rows[0]
    await send_file(send, directory / key, size)


app = signed_in_app(store, secret, send_stored_file)
