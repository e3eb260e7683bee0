"""The application factory: state, middleware, error handlers, routers and health checks."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, status
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from app import auth, handlers, items, openapi, users
from app.config import Settings, get_settings
from app.deps import DatabaseDep
from app.middleware import (
    REQUEST_ID_HEADER,
    BodySizeLimitMiddleware,
    RequestIdMiddleware,
    UnhandledErrorMiddleware,
)
from app.models import Health, Message, Readiness
from app.state import AppState, app_state


def _ping(db: Session) -> None:
    db.execute(text("SELECT 1"))


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. Uvicorn calls it with no argument (`--factory`)."""
    settings = settings or get_settings()
    prefix = settings.api_v1_prefix

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app_state(app).close()

    app = FastAPI(
        title=settings.app_name,
        version=settings.app_version,
        openapi_url=f"{prefix}/openapi.json",
        docs_url=f"{prefix}/docs",
        redoc_url=f"{prefix}/redoc",
        swagger_ui_oauth2_redirect_url=f"{prefix}/docs/oauth2-redirect",
        lifespan=lifespan,
    )
    app.state.app_state = AppState.start(settings)

    handlers.install(app)
    openapi.install(app)
    # Middleware runs outermost last: request id > CORS > body limit > error handling.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Total-Count", REQUEST_ID_HEADER],
        )
    app.add_middleware(RequestIdMiddleware)

    routers = (auth.router, auth.signed_in_router, auth.sessions_router, users.router, items.router)
    for router in routers:
        app.include_router(router, prefix=prefix)

    @app.get("/health", tags=["health"], operation_id="health")
    async def health() -> Health:
        """Liveness: the process answers."""
        return Health(version=settings.app_version, environment=settings.environment)

    @app.get(
        "/health/ready",
        tags=["health"],
        operation_id="health-ready",
        responses={503: {"model": Message, "description": "The database does not answer"}},
    )
    async def ready(database: DatabaseDep) -> Readiness:
        """Readiness: the database answers."""
        try:
            await database.run(_ping)
        except SQLAlchemyError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, detail="Database unavailable"
            ) from None
        return Readiness()

    return app
