"""Pure ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware)."""

import logging
import random
import re
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.context import Origin, origin_var
from app.core.errors import ErrorCode
from app.core.threads import RequestAbandoned

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TOO_LARGE = ErrorCode.BODY_TOO_LARGE
NOSNIFF = (b"x-content-type-options", b"nosniff")
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class HttpMiddleware:
    """Pure ASGI middleware for HTTP requests; other scopes pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (`self.app` serves it further in)."""
        raise NotImplementedError


class ResponseHeadersMiddleware(HttpMiddleware):
    """What every response carries, and what no response takes from the request.

    Every request gets an id: the client's `X-Request-ID` if sane, else a new one. It
    is echoed in the response header, kept in `request.state.request_id`, and kept
    with the client's address and user agent in the request's `Origin`
    (`app.core.context`), which tags every log line and audit event of the request.
    Every response gets `X-Content-Type-Options: nosniff`. A redirect to this server
    (built by a framework from the `Host` header) becomes a relative one, so a forged
    `Host` sends nobody elsewhere.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = _incoming_request_id(scope) or _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        added = [(b"x-request-id", request_id.encode()), NOSNIFF]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *added]
                if message["status"] in REDIRECTS:
                    headers = [_relative(scope, name, value) for name, value in headers]
                message["headers"] = headers
            await send(message)

        token = origin_var.set(_origin(scope, request_id))
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            origin_var.reset(token)


def _relative(scope: Scope, name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """A `Location` to this server's own host, made relative (path and query)."""
    if name.lower() != b"location":
        return name, value
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    target = urlsplit(value)
    if target.scheme in (b"http", b"https") and host is not None and target.netloc == host:
        value = urlunsplit((b"", b"", target.path or b"/", target.query, target.fragment))
    return name, value


def _new_request_id() -> str:
    # 128 random bits, as uuid4 has, but not a secret: uuid4 asks the kernel, and the
    # event loop gives up the GIL for that call (4 % of py-spy's samples, 2026-12-06).
    return f"{random.getrandbits(128):032x}"


def _origin(scope: Scope, request_id: str) -> Origin:
    client = scope.get("client")
    user_agent = next((v for k, v in scope["headers"] if k == b"user-agent"), None)
    return Origin(
        request_id=request_id,
        ip_address=client[0][:45] if client else None,
        user_agent=user_agent.decode("latin-1")[:255] if user_agent else None,
    )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.fullmatch(candidate) else None
    return None


class BodySizeLimitMiddleware(HttpMiddleware):
    """Refuses request bodies over `max_bytes` with 413, declared or streamed.

    A declared `Content-Length` over the limit is answered before the body is read;
    a streamed body is counted as the application reads it. `uploads` gives POSTs to
    the paths its patterns match (whole paths) a limit of their own (file uploads);
    every other request keeps `max_bytes`.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, uploads: Sequence[tuple[re.Pattern[str], int]] = ()
    ) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes
        self.uploads = tuple(uploads)

    def limit(self, scope: Scope) -> int:
        """The body limit of this request."""
        if scope["method"] == "POST":
            for pattern, max_bytes in self.uploads:
                if pattern.fullmatch(scope["path"]):
                    return max_bytes
        return self.max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        max_bytes = self.limit(scope)
        if _declared_length(scope) > max_bytes:
            body = {"detail": TOO_LARGE.message, "code": TOO_LARGE}
            response = JSONResponse(body, status.HTTP_413_CONTENT_TOO_LARGE)
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=TOO_LARGE.message)
            return message

        await self.app(scope, receive_within_limit, send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


class UnhandledErrorMiddleware(HttpMiddleware):
    """Turns any unhandled error into a 500 `{"detail": "Internal server error"}`.

    It sits inside CORS and the request id, so the 500 carries their headers and a
    browser can read it; the traceback goes to the log with the request id.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except (ClientDisconnect, RequestAbandoned):
            logger.info("Client left before %s %s was answered", scope["method"], scope["path"])
        except Exception:
            logger.exception("Unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            failure = ErrorCode.INTERNAL_ERROR
            body = {"detail": failure.message, "code": failure}
            response = JSONResponse(body, status_code=500)
            await response(scope, receive, send)
