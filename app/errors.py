"""HTTP errors: their status codes, messages and OpenAPI descriptions in one place.

Messages are short and stable; cases an attacker must not tell apart share one.
"""

from typing import Any

from fastapi import HTTPException, status

from app.models import Message

Responses = dict[int | str, dict[str, Any]]


def responses(descriptions: dict[int, str]) -> Responses:
    """OpenAPI `responses` for error codes, each with the `{"detail": ...}` body."""
    return {code: {"model": Message, "description": text} for code, text in descriptions.items()}


def unauthorized(detail: str = "Could not validate credentials") -> HTTPException:
    """401, telling the client to authenticate with a bearer token."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(detail: str) -> HTTPException:
    """403: authenticated, but not allowed."""
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


def not_found(what: str) -> HTTPException:
    """404 for an unknown id, or one the caller may not see."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def bad_request(detail: str) -> HTTPException:
    """400 with `detail`."""
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail=detail)


def conflict(detail: str) -> HTTPException:
    """409: the change clashes with the current state."""
    return HTTPException(status.HTTP_409_CONFLICT, detail=detail)


def too_many_attempts(retry_after: int) -> HTTPException:
    """429 with `Retry-After` in seconds."""
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail="Too many failed sign-ins; try again later",
        headers={"Retry-After": str(retry_after)},
    )


EMAIL_REGISTERED = "Email already registered"
AUTHENTICATED = responses({401: "Missing, invalid, expired or revoked access token"})
ADMIN_ONLY = responses({403: "Admin privileges required"})
