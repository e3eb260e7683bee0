"""Swagger UI and ReDoc, with their scripts and styles served by the app itself (from the
fastapi-offline package): the docs work offline and in an air-gapped `docker run`, and
make no request to any other site.

The pages share the back office's origin, and Swagger UI keeps the token it is given
in `localStorage`: they may not be framed, and their Content Security Policy lets them
run only this app's scripts and their own inline script (by its hash).
"""

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from functools import cache
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import NotModifiedResponse
from starlette.types import Scope

from app.core.config import Settings

ASSETS = files("fastapi_offline") / "static"
REDOC_JS = "redoc.standalone.js"
# The footer of ReDoc's side menu shows Redocly's logo from their CDN; with no source
# the image fails at once and ReDoc drops it (the "API docs by Redocly" link stays).
REDOC_LOGO = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'
# Swagger UI's password flow also asks for a client id, a client secret and where to
# send them; this API has no OAuth2 clients, so those rows are hidden.
SWAGGER_STYLE = """<style>
.auth-container .wrapper:has(> label[for="client_id_password"]),
.auth-container .wrapper:has(> label[for="client_secret_password"]),
.auth-container .wrapper:has(> label[for="password_type"]) { display: none; }
</style>
"""
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def protected(page: HTMLResponse) -> HTMLResponse:
    """`page` with headers that forbid framing it and running any other script."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body))
    )
    policy = [
        "default-src 'none'",
        f"script-src 'self' {hashes}".strip(),
        "style-src 'self' 'unsafe-inline'",  # both UIs set styles from their scripts
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src blob:",  # ReDoc searches in a worker
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
    page.headers["Content-Security-Policy"] = "; ".join(policy)
    page.headers["X-Frame-Options"] = "DENY"
    page.headers["Referrer-Policy"] = "same-origin"
    return page


@cache
def offline_redoc() -> tuple[bytes, str]:
    """ReDoc's script without its request to Redocly's CDN, and its ETag."""
    script = (ASSETS / REDOC_JS).read_bytes().replace(REDOC_LOGO, b'src:""')
    return script, f'"{hashlib.sha256(script).hexdigest()[:32]}"'


class DocsAssets(StaticFiles):
    """fastapi-offline's files, with ReDoc's script as `offline_redoc` makes it."""

    def __init__(self) -> None:
        super().__init__(directory=str(ASSETS))

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path != REDOC_JS or scope["method"] not in ("GET", "HEAD"):
            return await super().get_response(path, scope)
        script, etag = offline_redoc()
        response = Response(script, media_type="text/javascript", headers={"ETag": etag})
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def swagger_ui_html(
    *, openapi_url: str, title: str, assets: str, redirect_url: str
) -> HTMLResponse:
    """Swagger UI's page: Authorize asks for an email and a password, and nothing else."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        oauth2_redirect_url=redirect_url,
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
    )
    html = bytes(page.body).decode().replace("</head>", SWAGGER_STYLE + "</head>", 1)
    return HTMLResponse(html)


def install(app: FastAPI, settings: Settings) -> None:
    """Serve `<prefix>/docs` (Swagger UI), `<prefix>/redoc` and their assets."""
    prefix, title = settings.api_v1_prefix, settings.app_name
    assets = f"{prefix}/docs/assets"
    openapi_url = f"{prefix}/openapi.json"
    redirect_url = f"{prefix}/docs/oauth2-redirect"
    app.mount(assets, DocsAssets(), name="docs-assets")
    pages = {
        f"{prefix}/docs": swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            assets=assets,
            redirect_url=redirect_url,
        ),
        redirect_url: get_swagger_ui_oauth2_redirect_html(),
        f"{prefix}/redoc": get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{assets}/{REDOC_JS}",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        ),
    }
    for path, page in pages.items():
        app.add_api_route(path, _serve(bytes(page.body)), methods=["GET"], include_in_schema=False)


def _serve(html: bytes) -> Callable[[], Awaitable[HTMLResponse]]:
    """A route answering with the page `html`, as `protected` sends it."""

    async def page() -> HTMLResponse:
        return protected(HTMLResponse(html))

    return page
