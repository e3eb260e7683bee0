"""The OpenAPI document is the truth clients are generated from: committed, and complete."""

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.migrations import PROJECT_ROOT
from app.main import published_document
from tests.helpers import API

COMMITTED = PROJECT_ROOT / "clients" / "openapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return published_document()


def test_the_committed_document_is_the_apps(document: dict[str, Any]) -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == document, (
        "clients/openapi.json differs from the app's document: run `make client` and commit"
    )


def test_the_served_document_is_the_published_one(
    make_client: Callable[..., TestClient], document: dict[str, Any]
) -> None:
    served = make_client(environment="test").get(f"{API}/openapi.json").json()
    assert served == document


def test_a_relative_server_and_camel_case_path_parameters(document: dict[str, Any]) -> None:
    assert document["servers"] == [{"url": "/", "description": "This server"}]
    parameters = {
        parameter["name"]
        for path_item in document["paths"].values()
        for operation in path_item.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    }
    assert {"userId", "itemId", "sessionId", "tokenId"} <= parameters
    assert all(re.fullmatch(r"[a-z]+([A-Z][a-z]+)*Id", name) for name in parameters), parameters
    assert f"{API}/items/{{itemId}}" in document["paths"]


def test_list_responses_declare_x_total_count(document: dict[str, Any]) -> None:
    for path in (f"{API}/users", f"{API}/items"):
        ok = document["paths"][path]["get"]["responses"]["200"]
        assert ok["headers"]["X-Total-Count"]["schema"] == {"type": "integer"}


def test_fields_always_sent_are_required_and_titles_read_well(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "description" in schemas["ItemPublic"]["required"]
    assert "name" in schemas["UserPublic"]["required"]
    assert schemas["UserPublic"]["properties"]["isActive"]["title"] == "Is active"
    assert schemas["ItemPublic"]["properties"]["createdAt"]["title"] == "Created at"
    summaries = {
        operation["operationId"]: operation["summary"]
        for path_item in document["paths"].values()
        for operation in path_item.values()
    }
    assert summaries["users-me-read"] == "The signed-in user's account"


def test_password_rules_are_in_the_schema(document: dict[str, Any]) -> None:
    password = document["components"]["schemas"]["UserRegister"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (8, 72)
    assert password["x-max-utf8-bytes"] == 72
    assert password["pattern"] == "^[^\\u0000]*$"  # no NUL
    change = document["components"]["schemas"]["UserUpdateMe"]
    assert change["dependentRequired"] == {"email": ["currentPassword"]}


def test_every_operation_with_a_body_declares_an_unreadable_body(
    document: dict[str, Any], client: TestClient
) -> None:
    for path_item in document["paths"].values():
        for operation in path_item.values():
            if "requestBody" in operation:
                assert "`MALFORMED_REQUEST`" in operation["responses"]["400"]["description"]
    # and it happens: a body that is not UTF-8
    response = client.post(
        f"{API}/auth/login", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "MALFORMED_REQUEST"
