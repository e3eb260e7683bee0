"""Swagger UI and ReDoc, with their scripts and styles served by the app itself (from the
fastapi-offline package): the docs work offline and in an air-gapped `docker run`.

The pages share the back office's origin, and Swagger UI keeps the token it is given
in `localStorage`: they may not be framed, and their Content Security Policy lets them
run only this app's scripts and their own inline script (by its hash).
"""

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.core.config import Settings

ASSETS = files("fastapi_offline") / "static"
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


def install(app: FastAPI, settings: Settings) -> None:
    """Serve `<prefix>/docs` (Swagger UI), `<prefix>/redoc` and their assets."""
    prefix, title = settings.api_v1_prefix, settings.app_name
    assets = f"{prefix}/docs/assets"
    openapi_url = f"{prefix}/openapi.json"
    redirect_url = f"{prefix}/docs/oauth2-redirect"
    app.mount(assets, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return protected(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{title} - Swagger UI",
                oauth2_redirect_url=redirect_url,
                swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                swagger_css_url=f"{assets}/swagger-ui.css",
                swagger_favicon_url=f"{assets}/favicon.png",
                swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
            )
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return protected(get_swagger_ui_oauth2_redirect_html())

    @app.get(f"{prefix}/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return protected(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{title} - ReDoc",
                redoc_js_url=f"{assets}/redoc.standalone.js",
                redoc_favicon_url=f"{assets}/favicon.png",
                with_google_fonts=False,
            )
        )
