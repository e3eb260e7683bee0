"""The OpenAPI document: what FastAPI generates, completed where it cannot know better."""

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from app.core.errors import ErrorCode, responses

Document = dict[str, Any]
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
SAFE_METHODS = {"get", "head", "options", "trace"}
API_TOKEN_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A personal API token (`sqa_pat_...`) from POST /users/me/tokens",
}


def _add_validation_code(document: Document) -> None:
    """422 bodies carry `code` like every other error (FastAPI's schema lacks it)."""
    validation = document.get("components", {}).get("schemas", {}).get("HTTPValidationError")
    if validation is not None:
        code = ErrorCode.VALIDATION_ERROR.value
        validation["properties"]["code"] = {"type": "string", "const": code, "title": "Code"}
        validation["required"] = ["detail", "code"]


def _errors_in_json(operation: Document) -> None:
    """Errors are JSON also where a success is not (a CSV file): FastAPI declares a
    route's error models under the media type of its success."""
    for status, response in operation["responses"].items():
        content = response.get("content", {})
        if (
            status.startswith(("4", "5"))
            and len(content) == 1
            and "application/json" not in content
        ):
            response["content"] = {"application/json": content.popitem()[1]}


def _keep_validation_errors(operation: Document) -> None:
    """A route that declares a 422 of its own (rows of a file refused) still answers
    FastAPI's validation errors with 422: both shapes are declared."""
    content = operation["responses"].get("422", {}).get("content", {}).get("application/json")
    validation = {"$ref": "#/components/schemas/HTTPValidationError"}
    if content is not None and content["schema"] != validation:
        content["schema"] = {"anyOf": [content["schema"], validation]}


def _declare(operation: Document, status: int, code: ErrorCode) -> None:
    """Add `code` to the operation's documented error answers of `status`."""
    declared = responses((code, status))[status]
    existing = operation["responses"].get(str(status))
    if existing is None:
        operation["responses"][str(status)] = {
            "description": declared["description"],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
    elif declared["description"] not in existing["description"]:
        existing["description"] += "\n" + declared["description"]


def _declare_unreadable_bodies(operation: Document) -> None:
    """Every operation with a body may answer 400 when the body cannot be decoded."""
    if "requestBody" in operation:
        _declare(operation, 400, ErrorCode.MALFORMED_REQUEST)


def _name_optional_bodies(operation: Document) -> None:
    """An optional body is its named schema in a body that is not required (FastAPI
    writes `anyOf` the schema and `null`)."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    variants = content.get("schema", {}).get("anyOf", [])
    named = [variant for variant in variants if variant != {"type": "null"}]
    if len(variants) == 2 and len(named) == 1:
        content["schema"] = named[0]


def _declare_cross_site_refusals(method: str, operation: Document) -> None:
    """A state-changing operation that takes a session's access token takes it from
    the access cookie too (cookie mode), and then refuses a request from another
    site's page (`app.api.cookies`)."""
    if method not in SAFE_METHODS and {"session": []} in operation.get("security", []):
        _declare(operation, 403, ErrorCode.CROSS_SITE_REQUEST)


def _accept_api_tokens(document: Document, operation: Document) -> None:
    """Every operation that takes a session's access token takes a personal API token
    too, in the same header (`deps.get_caller` tells them apart): declared here, not
    as a second dependency solved on every request."""
    if {"session": []} in operation.get("security", []):
        operation["security"].append({"apiToken": []})
        schemes = document["components"]["securitySchemes"]
        schemes["apiToken"] = API_TOKEN_SCHEME


def _summarize(operation: Document) -> None:
    """The summary is the gist of the route's docstring (its first sentence, up to the
    first `;`, `:` or parenthesis), not its function name."""
    paragraph = operation.get("description", "").split("\n\n")[0].replace("\n", " ")
    if paragraph:
        gist = re.split(r"(?<=\.)\s|; |: | \(", paragraph)[0]
        operation["summary"] = gist.rstrip(".")


def complete(document: Document) -> Document:
    """`document` with the completions above applied (in place)."""
    _add_validation_code(document)
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _METHODS:
                _declare_unreadable_bodies(operation)
                _errors_in_json(operation)
                _keep_validation_errors(operation)
                _name_optional_bodies(operation)
                _declare_cross_site_refusals(method, operation)
                _accept_api_tokens(document, operation)
                _summarize(operation)
    return document


def install(app: FastAPI) -> None:
    """Make `app` serve the completed document (built once, on first request)."""
    generate: Callable[[], Document] = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is None:
            complete(generate())
        return generate()

    app.openapi = openapi  # type: ignore[method-assign]
