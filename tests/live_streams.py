"""Reading `GET /live` from a real server in tests: a stream read on a thread of its own.

ASGI test transports do not stream an endless response, so these tests start the
service (`tests.helpers.start_server`) and read it over HTTP with httpx.
"""

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from app.models.changes import Change
from app.services import live
from tests.helpers import API, free_port, poll, start_server

# Short heartbeats and polls, a small queue and a low limit, so tests see them work.
LIVE_SETTINGS = {
    "BCRYPT_ROUNDS": "4",
    "LIVE_HEARTBEAT_SECONDS": "0.5",
    "LIVE_POLL_SECONDS": "0.1",
    "LIVE_MAX_STREAMS_PER_USER": "2",
    "LIVE_QUEUE_SIZE": "5",
}
# An item written beside the service, in a transaction a test holds open (PostgreSQL).
INSERT_ITEM = text(
    "INSERT INTO items (id, title, owner_id, created_at, updated_at) "
    "VALUES (:id, 'Beside', :owner_id, now(), now())"
)


def settled(engine: Engine) -> live.Position:
    """The latest position once every committed change can be read (on PostgreSQL,
    another test's transaction, open on the same server, holds changes back)."""

    def newest() -> live.Position:
        newest_first = select(Change).order_by(col(Change.tx).desc(), col(Change.id).desc())
        with Session(engine) as db:
            change = db.exec(newest_first).first()
        return live.START if change is None else live.Position(change.tx or 0, change.id or 0)

    def latest() -> live.Position:
        with Session(engine) as db:
            return live.latest_position(db)

    assert poll(lambda: latest() == newest(), seconds=60)
    return latest()


@contextmanager
def live_server(database_url: str, log: Path, **env: str) -> Iterator[str]:
    """The service on a free port over `database_url`; yields its API's base URL."""
    port = free_port()
    server = start_server(port, log, database_url=database_url, **{**LIVE_SETTINGS, **env})
    try:
        yield f"http://127.0.0.1:{port}{API}"
    finally:
        server.terminate()
        server.wait(timeout=60)


class Stream:
    """`GET /live` read on a thread: the status, then each event and heartbeat as it
    comes (`events`: the fields of each event; `heartbeats`: comment lines)."""

    def __init__(self, base: str, headers: dict[str, str] | None = None, **options: Any) -> None:
        self.client = httpx.Client(base_url=base, timeout=httpx.Timeout(60), **options)
        self.headers = headers or {}
        self.status: int | None = None
        self.body: dict[str, Any] = {}
        self.events: list[dict[str, str]] = []
        self.resume_from: str | None = None
        self.heartbeats = 0
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert poll(lambda: self.status is not None), "the stream never answered"

    def _read(self) -> None:
        try:
            with self.client.stream("GET", "/live", headers=self.headers) as response:
                if response.status_code != 200:
                    self.body = json.loads(response.read())
                self.status = response.status_code
                self._parse(response.iter_lines())
        except (httpx.HTTPError, RuntimeError, ValueError):
            pass  # closed by the test
        finally:
            self.ended.set()

    def _parse(self, lines: Iterator[str]) -> None:
        fields: dict[str, str] = {}
        for line in lines:
            if line.startswith(":"):
                self.heartbeats += 1
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif fields.keys() == {"id"}:  # no event: where a reconnection resumes
                self.resume_from = fields["id"]
                fields = {}
            elif fields:
                self.events.append(fields)
                fields = {}

    def changes(self) -> list[dict[str, Any]]:
        """The `data` of each event about a change, in order."""
        return [json.loads(e["data"]) for e in self.events if e.get("event") != "resync"]

    def wait_for(self, found: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """The changes once `found(changes)` holds (generous deadline)."""
        seen = poll(lambda: found(self.changes()))
        assert seen, f"not seen (stream ended: {self.ended.is_set()}): {self.events}"
        return self.changes()

    def close(self) -> None:
        """Hang up."""
        self.client.close()


def about(record_id: str, kind: str) -> Callable[[list[dict[str, Any]]], bool]:
    """Whether the changes hold one of `kind` about `record_id`."""
    return lambda changes: any(c["id"] == record_id and c["type"] == kind for c in changes)
