"""Error answers: every one is `{"detail", "code"}`, and the codes are documented."""

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.core.errors import ErrorCode
from app.core.migrations import PROJECT_ROOT
from app.core.threads import RequestAbandoned
from tests.helpers import API


def test_the_readme_lists_every_error_code_with_its_detail() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [
        code.value
        for code in ErrorCode
        if f"| `{code.value}` | {code.status} | {code.message} |" not in readme
        and code is not ErrorCode.VALIDATION_ERROR  # its detail is FastAPI's list
    ]
    assert "| `VALIDATION_ERROR` | 422 | FastAPI's list of `{type, loc, msg}` |" in readme
    assert missing == []


def test_openapi_declares_each_routes_codes(client: TestClient) -> None:
    spec = client.get(f"{API}/openapi.json").json()
    login = spec["paths"][f"{API}/auth/login"]["post"]["responses"]
    assert login["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "`LOGIN_BAD_CREDENTIALS`" in login["401"]["description"]
    assert "`TOO_MANY_ATTEMPTS`" in login["429"]["description"]
    codes = spec["components"]["schemas"]["ErrorCode"]["enum"]
    assert codes == [code.value for code in ErrorCode]
    validation = spec["components"]["schemas"]["HTTPValidationError"]
    assert validation["properties"]["code"]["const"] == "VALIDATION_ERROR"


def test_a_validation_error_has_its_code(client: TestClient) -> None:
    response = client.post(f"{API}/auth/login", json={"email": "not an email"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert isinstance(body["detail"], list)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", f"{API}/nowhere", 404, "NOT_FOUND"),
        ("PUT", f"{API}/users/me", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_framework_errors_have_codes(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert isinstance(response.json()["detail"], str)


def test_an_unauthenticated_call_says_how_to_authenticate(client: TestClient) -> None:
    response = client.get(f"{API}/users/me")
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "Not authenticated", "code": "NOT_AUTHENTICATED"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_request_abandoned_while_waiting_to_hash_is_logged_not_500(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()

    @client.app.get("/abandoned")  # type: ignore[attr-defined,untyped-decorator]
    async def abandoned() -> None:
        raise RequestAbandoned

    with (
        caplog.at_level(logging.INFO, logger="app.core.middleware"),
        pytest.raises(AssertionError, match="did not receive any response"),
    ):
        client.get("/abandoned")
    assert "Client left before GET /abandoned" in caplog.text
    assert "Unhandled" not in caplog.text
