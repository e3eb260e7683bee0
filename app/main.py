"""The application factory: state, error handlers, middleware and routers."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import iter_route_contexts

from app.api import (
    attachments,
    audit,
    auth,
    health,
    identities,
    items,
    live,
    providers,
    recovery,
    sessions,
    tokens,
    two_factor,
    users,
)
from app.core import docs, handlers, metrics, openapi, reporting, tracing
from app.core.config import Settings, get_settings
from app.core.metrics import MetricsMiddleware
from app.core.middleware import (
    REQUEST_ID_HEADER,
    BodySizeLimitMiddleware,
    ResponseHeadersMiddleware,
    UnhandledErrorMiddleware,
)
from app.core.proxies import ForwardedHeadersMiddleware
from app.core.server import SERVER_STOPPING
from app.core.state import AppState, app_state
from app.pages import account
from app.services.live_hub import Hub

MULTIPART_OVERHEAD_BYTES = 64 * 1024  # the form's boundaries and part headers
# FastAPI tries the routers in this order, each at a cost: the most used come first.
# In-process GET /users/me cost 0.83 ms of CPU with users.router fourth, 0.72 ms with
# it first (3 runs each, PostgreSQL, 2026-12-04); `make bench` (a) 0.32 against 0.40.
API_ROUTERS = (
    users.router,
    items.router,
    attachments.router,
    tokens.my_tokens_router,
    tokens.tokens_router,
    two_factor.router,
    two_factor.admin_router,
    auth.router,
    providers.router,
    identities.my_router,
    identities.admin_router,
    recovery.router,
    sessions.router,
    audit.router,
    live.router,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Close the app's live streams, connections and threads when it stops (the live
    streams end as soon as the server starts stopping: `app.core.server`)."""
    yield {SERVER_STOPPING: app.state.live_hub.end_all}
    await app.state.live_hub.stop()
    app_state(app).close()


def upload_limits(settings: Settings) -> list[tuple[re.Pattern[str], int]]:
    """The body limits of the file upload routes (the API's and the back office's):
    ATTACHMENT_MAX_BYTES and room for the multipart form around the file."""
    max_bytes = settings.attachment_max_bytes + MULTIPART_OVERHEAD_BYTES
    paths = [f"{re.escape(settings.api_v1_prefix)}/items/[^/]+/files", "/admin/item/files/[^/]+"]
    return [(re.compile(path), max_bytes) for path in paths]


def add_middleware(app: FastAPI, settings: Settings) -> None:
    """The middleware runs outermost last: proxy headers > response headers (request
    id, nosniff) > CORS > body limit > last-resort error handling."""
    if settings.metrics_enabled:  # innermost: it reads the route that routing chose
        app.add_middleware(MetricsMiddleware)
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_body_bytes,
        uploads=upload_limits(settings),
    )
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_credentials="*" not in settings.allowed_origins,  # never for any site
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Total-Count", REQUEST_ID_HEADER],
        )
    app.add_middleware(ResponseHeadersMiddleware)
    app.add_middleware(ForwardedHeadersMiddleware, trusted=settings.forwarded_allow_ips)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. Uvicorn calls it with no argument (`--factory`)."""
    settings = settings or get_settings()
    prefix = settings.api_v1_prefix
    tracer_provider = tracing.tracer_provider(settings)
    app = FastAPI(
        title=settings.app_name,
        version=settings.app_version,
        openapi_url=f"{prefix}/openapi.json",
        docs_url=None,  # served by app.docs, with their assets
        redoc_url=None,
        servers=[{"url": "/", "description": "This server"}],
        lifespan=lifespan,
        telemetry=tracing.telemetry(tracer_provider),
    )
    if settings.sentry_dsn is not None:
        reporting.install(settings, settings.sentry_dsn.get_secret_value())
    app.state.app_state = AppState.start(settings)
    app.state.live_hub = Hub(app.state.app_state)
    if tracer_provider is not None:
        database = app.state.app_state.database
        tracing.trace_statements(tracer_provider, database.engine, database.reading)
    handlers.install(app)
    openapi.install(app)
    add_middleware(app, settings)
    for router in API_ROUTERS:
        app.include_router(router, prefix=prefix)
    app.include_router(health.router)
    if settings.metrics_enabled:
        app.add_route("/metrics", metrics.endpoint(settings), ["GET"], include_in_schema=False)
    docs.install(app, settings)
    if settings.frontend_url is None:
        account.install(app, settings)
    if settings.admin_ui:
        from app.admin import mount_back_office  # imported only when it is served

        mount_back_office(app)
    _build_routes(app)
    return app


def _build_routes(app: FastAPI) -> None:
    """Build each route's request handling now rather than on its first request, as
    FastAPI would. Apps that share these module-level routers in one process (tests,
    or two apps served side by side) would otherwise build it from several threads
    at once on their first requests, which FastAPI does not guard against: a 500."""
    for _context in iter_route_contexts(app.routes):
        pass


def published_document() -> dict[str, Any]:
    """The OpenAPI document as published in `clients/openapi.json`: built with the
    default settings, not the environment's, so it does not depend on who builds it."""
    settings = Settings(
        _env_file=None, environment="test", database_url="sqlite://", jwt_secret_key="x" * 40
    )
    return create_app(settings).openapi()
