"""Notices: what a change says once it is done ("User ada@example.com created."),
shown at the top of the next page, once.

SQLAdmin's own flash messages need a session middleware, which the back office does
not have (its sign-in is a row of the sessions table). So a change leaves its notice
with `notify(request, text)`; `Notices` puts it on the response in a short-lived
cookie on /admin, signed with the app's key, and hands the notices that come back to
the next page (`flash.html` calls `shown(request)`), whose response forgets them. A
signed cookie rather than a query parameter: a link from elsewhere cannot put words on
a page.
"""

import base64
import hashlib
import hmac
import json

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.admin.auth import COOKIE_PATH
from app.core.middleware import HttpMiddleware

COOKIE = "admin_notices"
MAX_AGE = 60  # seconds: the next page follows at once
KEEP = 5  # the newest notices kept when more pile up
NEW, CAME, SHOWN = "notices_new", "notices_came", "notices_shown"  # keys of the request's state


def notify(request: Request, text: str) -> None:
    """Say `text` on the next page."""
    request.scope.setdefault("state", {}).setdefault(NEW, []).append(text)


def shown(request: Request) -> list[str]:
    """The notices that came with `request`, now shown (its response forgets them)."""
    state = request.scope.setdefault("state", {})
    state[SHOWN] = True
    return list(state.get(CAME, []))


class Notices(HttpMiddleware):
    """Carries notices from the change that left them to the page that shows them."""

    def __init__(self, app: ASGIApp, *, secret_key: str, secure: bool) -> None:
        super().__init__(app)
        self.key, self.secure = secret_key.encode(), secure

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with the notices it brought; the response carries the
        ones still to show."""
        state = scope.setdefault("state", {})
        cookies = cookie_parser(Headers(scope=scope).get("cookie", ""))
        came = state[CAME] = self._read(cookies.get(COOKIE, ""))

        async def send_with_notices(message: Message) -> None:
            if message["type"] == "http.response.start":
                new, seen = state.get(NEW, []), state.get(SHOWN, False)
                if new or (came and seen):
                    kept = [*([] if seen else came), *new][-KEEP:]
                    MutableHeaders(scope=message).append("set-cookie", self._cookie(kept))
            await send(message)

        await self.app(scope, receive, send_with_notices)

    def _signature(self, payload: str) -> str:
        message = f"back-office-notices:{payload}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def _read(self, value: str) -> list[str]:
        """The notices in a cookie's value; none unless we signed it."""
        payload, _, signature = value.partition(".")
        if not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            return []
        padded = payload + "=" * (-len(payload) % 4)
        notices: list[str] = json.loads(base64.urlsafe_b64decode(padded))
        return notices

    def _cookie(self, notices: list[str]) -> str:
        """The `Set-Cookie` value that carries `notices` (none: forgets them)."""
        carrier = Response()
        if not notices:
            carrier.delete_cookie(
                COOKIE, path=COOKIE_PATH, secure=self.secure, httponly=True, samesite="lax"
            )
            return carrier.headers["set-cookie"]
        payload = base64.urlsafe_b64encode(json.dumps(notices).encode()).decode().rstrip("=")
        carrier.set_cookie(
            COOKIE,
            f"{payload}.{self._signature(payload)}",
            max_age=MAX_AGE,
            path=COOKIE_PATH,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )
        return carrier.headers["set-cookie"]
