"""The application factory: settings, database, middleware, routers and health checks."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import CapacityLimiter
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import auth, items, sessions, users
from app.config import Settings, get_settings
from app.db import create_db_engine
from app.middleware import (
    REQUEST_ID_HEADER,
    BodySizeLimitMiddleware,
    RequestIdMiddleware,
    UnhandledErrorMiddleware,
    validation_error_handler,
)
from app.models import Health, Message, Readiness
from app.security import PasswordHasher


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. Uvicorn calls it with no argument (`--factory`)."""
    settings = settings or get_settings()
    prefix = settings.api_v1_prefix

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.hasher.close()
        app.state.engine.dispose()
        app.state.read_engine.dispose()

    app = FastAPI(
        title=settings.app_name,
        version=settings.app_version,
        openapi_url=f"{prefix}/openapi.json",
        docs_url=f"{prefix}/docs",
        redoc_url=f"{prefix}/redoc",
        swagger_ui_oauth2_redirect_url=f"{prefix}/docs/oauth2-redirect",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = create_db_engine(settings)
    app.state.read_engine = create_db_engine(settings, autocommit=True)
    app.state.session_slots = CapacityLimiter(
        settings.database_pool_size + settings.database_max_overflow
    )
    app.state.hasher = PasswordHasher(settings.bcrypt_rounds, settings.password_hash_concurrency)

    app.exception_handler(RequestValidationError)(validation_error_handler)
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

    for router in (auth.router, sessions.router, users.router, items.router):
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
    async def ready(request: Request) -> Readiness:
        """Readiness: the database answers."""

        def ping() -> None:
            with request.app.state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(ping)
        except SQLAlchemyError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, detail="Database unavailable"
            ) from None
        return Readiness()

    return app
