"""Exception handlers: every error answer is `{"detail": ..., "code": ...}`.

`AppError`s carry their own status, code and message; errors raised by FastAPI and
Starlette themselves (unknown path, wrong method, unreadable body, validation) get
the code of their status here.
"""

import logging
from functools import lru_cache

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from app.core.errors import AppError, ErrorCode

logger = logging.getLogger(__name__)
RETRY_AFTER_OUTAGE = 5  # seconds

_FRAMEWORK_CODES = {
    400: ErrorCode.MALFORMED_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.BODY_TOO_LARGE,
}


async def app_error_handler(_request: Request, exc: AppError) -> JSONResponse:
    """An `AppError` as its response."""
    response = JSONResponse(exc.body(), exc.status, headers=exc.headers)
    for cookie in exc.set_cookies:
        response.headers.append("set-cookie", cookie)
    return response


@lru_cache(maxsize=256)
def _methods_of(app: Starlette, path: str) -> str:
    methods = {
        method
        for context in iter_route_contexts(app.routes)
        if context.path_regex is not None and context.path_regex.match(path)
        for method in context.methods or ()
    }
    return ", ".join(sorted(methods))


async def http_error_handler(request: Request, exc: HTTPException) -> JSONResponse:
    """A framework `HTTPException`, with the code of its status. A 405 lists in `Allow`
    every method of the path, not only those of the first route that matched it (a
    mount, such as static files, has no routes to list: its own `Allow` stays)."""
    code = _FRAMEWORK_CODES.get(exc.status_code, ErrorCode.MALFORMED_REQUEST)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _methods_of(request.app, request.url.path) or headers.get("Allow", "")
    return JSONResponse({"detail": exc.detail, "code": code}, exc.status_code, headers=headers)


async def validation_error_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 list, without echoing the rejected input (it may be a password)."""
    hidden = {"input", "url"}
    errors = [{k: v for k, v in error.items() if k not in hidden} for error in exc.errors()]
    body = {"detail": jsonable_encoder(errors), "code": ErrorCode.VALIDATION_ERROR}
    return JSONResponse(body, 422)


async def database_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    """The database does not answer (down, unreachable, locked, or no connection free
    in time): 503 with `Retry-After`; the cause goes to the log with the request id."""
    cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    logger.warning("Database unavailable on %s %s: %s", request.method, request.url.path, cause)
    error = AppError(
        ErrorCode.SERVICE_UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_OUTAGE)}
    )
    return await app_error_handler(request, error)


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.exception_handler(AppError)(app_error_handler)
    app.exception_handler(HTTPException)(http_error_handler)
    app.exception_handler(RequestValidationError)(validation_error_handler)
    for unavailable in (OperationalError, InterfaceError, PoolTimeoutError):
        app.exception_handler(unavailable)(database_unavailable_handler)
