"""Swagger UI and ReDoc, with their scripts and styles served by the app itself (from the
fastapi-offline package): the docs work offline and in an air-gapped `docker run`."""

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


def install(app: FastAPI, settings: Settings) -> None:
    """Serve `<prefix>/docs` (Swagger UI), `<prefix>/redoc` and their assets."""
    prefix, title = settings.api_v1_prefix, settings.app_name
    assets = f"{prefix}/docs/assets"
    openapi_url = f"{prefix}/openapi.json"
    redirect_url = f"{prefix}/docs/oauth2-redirect"
    app.mount(assets, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(f"{prefix}/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )
