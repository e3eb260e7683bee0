"""The OpenAPI document: what FastAPI generates, completed where it cannot know better."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from app.errors import ErrorCode


def _add_validation_code(schema: dict[str, Any]) -> None:
    """422 bodies carry `code` like every other error (FastAPI's schema lacks it)."""
    validation = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
    if validation is not None:
        code = ErrorCode.VALIDATION_ERROR.value
        validation["properties"]["code"] = {"type": "string", "const": code, "title": "Code"}
        validation["required"] = ["detail", "code"]


def install(app: FastAPI) -> None:
    """Make `app` serve the completed document (built once, on first request)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _add_validation_code(generate())
        return generate()

    app.openapi = openapi  # type: ignore[method-assign]
