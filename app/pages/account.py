"""`/account/reset-password` and `/account/verify-email`: what the service's own mails
link to when FRONTEND_URL is unset.

Each page is static HTML with one script (`assets/account.js`) that reads the token
from the address, removes it from the address bar, and posts it to the API only when
the person submits: a mail scanner that opens the link changes nothing. Pages allow no
inline code and no other origin, send no `Referer` (the address holds a token), and
are never cached.
"""

from collections.abc import Awaitable, Callable
from html import escape
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from app.core.config import Settings
from app.services.mail import ACCOUNT_PAGES

HERE = Path(__file__).parent
PREFIX = ACCOUNT_PAGES
PAGES = {"reset-password": "Choose a new password", "verify-email": "Confirm your email address"}
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _render(page: str, title: str, settings: Settings) -> str:
    """The page `page` (its form from `<page>.html` in the shared shell) with its title,
    the app's name and the API's prefix filled in."""
    templates = HERE / "templates"
    values = {
        "{{form}}": (templates / f"{page}.html").read_text().rstrip("\n"),
        "{{title}}": escape(title),
        "{{page}}": page,
        "{{app_name}}": escape(settings.app_name),
        "{{api_prefix}}": escape(settings.api_v1_prefix),
    }
    html = (templates / "page.html").read_text()
    for placeholder, value in values.items():
        html = html.replace(placeholder, value)
    return html


def _page(html: str) -> Callable[[], Awaitable[HTMLResponse]]:
    async def page() -> HTMLResponse:
        return HTMLResponse(html, headers=HEADERS)

    return page


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the pages and their assets."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    for path, title in PAGES.items():
        page = _page(_render(path, title, settings))
        router.add_api_route(f"/{path}", page, methods=["GET"], name=f"account-{path}")
    app.include_router(router)
    app.mount(f"{PREFIX}/assets", StaticFiles(directory=HERE / "assets"), name="account-assets")
