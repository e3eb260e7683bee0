"""Browser safety of the back office: security headers, and where requests may come from.

A pure ASGI middleware around the back office (like the service's own middleware):

* every response gets `X-Frame-Options: DENY`, a strict Content Security Policy (no
  inline script or style, nothing from another origin) and `Referrer-Policy`
  (`X-Content-Type-Options: nosniff` comes with every response of the service);
  pages also get `Cache-Control: no-store`;
* a state-changing request (any unsafe method, and SQLAdmin's GET actions and
  sign-out) must come from a page of this origin (`app.core.csrf`, the rule the
  API's cookie mode follows too): `Sec-Fetch-Site: same-origin` when the browser
  sends fetch metadata (all current ones do), else a matching `Origin`, else a
  matching `Referer`; anything else gets 403;
* from another site, only a top-level navigation may open a page: no script,
  frame or image of another origin may read or use the back office, even one that
  CORS_ORIGINS lets call the API with credentials.

Forms also carry a token bound to the sign-in (`forms.py`): both checks must pass.

It also runs what a screen asked to do once its response is sent (`after_response`,
e.g. mail a verification link), as FastAPI runs a route's background tasks.
"""

from collections.abc import Callable
from typing import Any

from starlette.background import BackgroundTasks
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from app.core import csrf
from app.core.middleware import HttpMiddleware

AFTER_RESPONSE = "after_response"

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # Tabler draws checkboxes and selects with data: SVGs
        "font-src 'self'",
        "connect-src 'self'",  # deleting a row is an XHR
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def changes_state(method: str, path: str) -> bool:
    """Whether a request changes something: SQLAdmin runs custom actions
    (`/{identity}/action/{name}`) and sign-out as GET."""
    if method not in SAFE_METHODS:
        return True
    return "/action/" in path or path.rstrip("/").endswith("/logout")


def _refusal(scope: Scope, headers: Headers) -> PlainTextResponse | None:
    if b"%00" in scope.get("query_string", b"").lower():
        # No text column can hold NUL; PostgreSQL's driver fails on it.
        return PlainTextResponse("Malformed query string", status_code=400)
    state_changing = changes_state(scope["method"], scope["path"])
    if not csrf.from_trusted_page(scope, headers, state_changing=state_changing):
        return PlainTextResponse("Cross-site request refused", status_code=403)
    return None


class BrowserGuard(HttpMiddleware):
    """Security headers on every response of the back office; cross-site requests refused."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request or serve it, with the headers added either way."""
        refusal = _refusal(scope, Headers(scope=scope))
        if refusal is not None:
            await refusal(scope, receive, _with_headers(send))
            return
        await self.app(scope, receive, _with_headers(send))
        tasks: BackgroundTasks | None = scope.get("state", {}).get(AFTER_RESPONSE)
        if tasks is not None:
            await tasks()


def after_response(request: Request, fn: Callable[..., Any], *args: Any) -> None:
    """Call `fn(*args)` once the response to `request` is sent (a `def` function runs
    on a thread, as a route's background task does)."""
    tasks = request.scope.setdefault("state", {}).setdefault(AFTER_RESPONSE, BackgroundTasks())
    tasks.add_task(fn, *args)


def _with_headers(send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers["X-Frame-Options"] = "DENY"
            headers["Content-Security-Policy"] = CSP
            headers["Referrer-Policy"] = "same-origin"
            headers["Cross-Origin-Opener-Policy"] = "same-origin"
            if headers.get("content-type", "").startswith("text/html"):
                headers["Cache-Control"] = "no-store"
        await send(message)

    return send_with_headers
