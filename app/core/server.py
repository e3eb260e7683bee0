"""The HTTP protocol uvicorn serves with: its httptools protocol, with bounded request heads.

A request line and headers larger than MAX_REQUEST_HEADER_BYTES, or more than
MAX_REQUEST_HEADERS header fields, get 431 and the connection is closed as soon as
the limit is passed, so an oversized head is never read (nor kept) whole. A head
must also arrive whole within REQUEST_HEAD_TIMEOUT seconds, counted from the
connection (a first request) or from its first byte (a later one): else 408 and the
connection is closed, so slow clients cannot hold a worker's connections and files.

uvicorn's h11 protocol can bound heads by itself, but serves slower: `make bench` (a)
0.38 and (g) on SQLite 0.36 x the limit app with it, 0.42 and 0.40 with this one (3
runs each, 2026-12-04). This subclasses a class of uvicorn's internals, so
pyproject.toml keeps uvicorn below its next minor version: upgrade on purpose.
"""

import json
from asyncio import TimerHandle, Transport
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.core.config import get_settings
from app.core.errors import ErrorCode


def _closing_response(status: int, code: ErrorCode) -> bytes:
    body = json.dumps({"detail": code.message, "code": code.value}, separators=(",", ":"))
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body.encode(),
        ]
    )


# The app's lifespan state may hold, under this name, what to call when the server
# starts stopping: it ends responses that would never end on their own (live streams),
# which the server otherwise waits for.
SERVER_STOPPING = "server_stopping"
TOO_LARGE_RESPONSE = _closing_response(431, ErrorCode.HEADERS_TOO_LARGE)
TIMEOUT_RESPONSE = _closing_response(408, ErrorCode.REQUEST_TIMEOUT)


class HeadTooLargeError(Exception):
    """Raised from a parser callback to stop reading a request head past the limit."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing request heads over the configured size
    or slower than the configured time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_head_bytes = settings.max_request_header_bytes
        self.max_headers = settings.max_request_headers
        self.head_timeout = settings.request_head_timeout
        # When the head being awaited began (None between heads), checked by one timer
        # per connection: a timer set and cancelled for every request cost more.
        self.head_started: float | None = None
        self.head_timer: TimerHandle | None = None
        self.reading_head = self.head_too_large = False
        self.head_bytes = self.received_in_head = 0

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_started = self.loop.time()
        self.head_timer = self.loop.call_at(self.head_started + self.head_timeout, self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server is stopping: tell the app, then close when the response is done."""
        stopping = self.app_state.get(SERVER_STOPPING)
        if callable(stopping):
            stopping()
        super().shutdown()

    def _check(self) -> None:
        """408 and close if the awaited head is late, else look again when it would be."""
        self.head_timer = None
        if self.transport.is_closing():
            return
        now, started = self.loop.time(), self.head_started
        if started is not None and now - started >= self.head_timeout:
            if self.cycle is None or self.cycle.response_complete:
                self.logger.info(
                    "Request head from %s not complete in time; answered 408", self._peer()
                )
                self.transport.write(TIMEOUT_RESPONSE)
                self.transport.close()
                return
            started = self.head_started = now  # a response is on its way first (pipelining)
        deadline = (now if started is None else started) + self.head_timeout
        self.head_timer = self.loop.call_at(deadline, self._check)

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_started is None:
            self.head_started = self.loop.time()
        self.reading_head = True
        self.head_bytes = self.received_in_head = 0

    def _count(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > self.max_head_bytes or len(self.headers) >= self.max_headers:
            self.head_too_large = True
            raise HeadTooLargeError

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.head_started = None
        self.reading_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A head still incomplete is buffered by the parser: bound that too.
        if self.reading_head and not self.transport.is_closing():
            self.received_in_head += len(data)
            if self.received_in_head > self.max_head_bytes:
                self.head_too_large = True
                self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to an unreadable request; 431 when the head was too large."""
        if not self.head_too_large:
            super().send_400_response(msg)
            return
        self.logger.warning("Request head from %s over the limit; answered 431", self._peer())
        self.reading_head = self.head_too_large = False
        self.transport.write(TOO_LARGE_RESPONSE)
        self.transport.close()
