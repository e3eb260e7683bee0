"""The application shell: health checks, request ids, unhandled errors, body size, CORS,
the OpenAPI document and the wire format shared by every route."""

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from app.core.config import Settings
from app.core.errors import ErrorCode
from app.main import create_app
from app.models import User
from tests.helpers import API, PASSWORD, Account, assert_unauthorized, error_body

SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
OPERATION_ID = re.compile(r"[a-z]+(-[a-z]+)*")
MAX_BODY = 1024 * 1024
ORIGIN = "https://app.example"


def json_body_of_size(size: int, **fields: str) -> bytes:
    """A JSON object with `fields`, padded by an extra (ignored) field to `size` bytes."""
    head = "{" + "".join(f'"{name}":"{value}",' for name, value in fields.items()) + '"pad":"'
    tail = '"}'
    body = (head + "x" * (size - len(head) - len(tail)) + tail).encode()
    assert len(body) == size
    return body


# Health


def test_health_reports_version_and_environment(make_client: Callable[..., TestClient]) -> None:
    client = make_client(app_version="1.2.3")

    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "version": "1.2.3", "environment": "test"}


def test_ready_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.parametrize(
    "unreachable",
    [
        "postgresql://postgres@127.0.0.1:1/nothing",
        "sqlite:////nonexistent-directory/for/sure/app.db",
    ],
    ids=["postgresql-closed-port", "sqlite-missing-directory"],
)
def test_not_ready_when_the_database_does_not_answer(
    make_client: Callable[..., TestClient], unreachable: str
) -> None:
    client = make_client(database_url=unreachable)

    response = client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert list(body) == ["detail", "code"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert "Traceback" not in response.text
    assert "X-Request-ID" in response.headers
    # Liveness does not depend on the database.
    assert client.get("/health").status_code == 200


# X-Request-ID


@pytest.mark.parametrize(
    ("method", "path", "options", "status"),
    [
        ("GET", "/health", {}, 200),
        ("GET", f"{API}/users/me", {}, 401),
        ("GET", f"{API}/no-such-route", {}, 404),
        ("DELETE", "/health", {}, 405),
        ("POST", f"{API}/auth/login", {"content": b"x" * (MAX_BODY + 1)}, 413),
        ("POST", f"{API}/auth/login", {"json": {}}, 422),
    ],
    ids=["200", "401", "404", "405", "413", "422"],
)
def test_every_response_carries_a_request_id(
    client: TestClient, method: str, path: str, options: dict[str, Any], status: int
) -> None:
    response = client.request(method, path, **options)

    assert response.status_code == status
    assert SANE_REQUEST_ID.fullmatch(response.headers["X-Request-ID"])


def test_request_ids_are_new_for_each_request(client: TestClient) -> None:
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(3)}

    assert len(ids) == 3


@pytest.mark.parametrize(
    "incoming", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "req.1:2_3", "x" * 128]
)
def test_a_sane_incoming_request_id_is_echoed(client: TestClient, incoming: str) -> None:
    for response in (
        client.get("/health", headers={"X-Request-ID": incoming}),
        client.get(f"{API}/users/me", headers={"X-Request-ID": incoming}),
    ):
        assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [b"has spaces in it", b"x" * 200, "n\u00f6n-\u00e4scii".encode(), b"<script>", b""],
    ids=["spaces", "200-chars", "non-ascii", "markup", "empty"],
)
def test_an_unsafe_incoming_request_id_is_replaced(client: TestClient, incoming: bytes) -> None:
    response = client.get("/health", headers={b"X-Request-ID": incoming})

    assert response.status_code == 200
    outgoing = response.headers["X-Request-ID"]
    assert outgoing.encode() != incoming
    assert SANE_REQUEST_ID.fullmatch(outgoing)
    assert len(response.headers.get_list("X-Request-ID")) == 1


# Unhandled errors


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def crashing_client(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> Iterator[TestClient]:
    """A client of an app with routes that fail with an unhandled error."""
    app: FastAPI = create_app(make_settings(debug=request.param))

    @app.get("/boom-sync")
    def boom_sync() -> None:
        raise RuntimeError("sensitive internal detail")

    @app.get("/boom-async")
    async def boom_async() -> None:
        raise RuntimeError("sensitive internal detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_an_unhandled_error_is_not_sniffed_either(crashing_client: TestClient) -> None:
    assert crashing_client.get("/boom-sync").headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", f"{API}/users/me", 401),
        ("GET", f"{API}/nowhere", 404),
        ("PUT", f"{API}/users/me", 405),
        ("POST", f"{API}/auth/login", 422),
        ("GET", f"{API}/openapi.json", 200),
        ("GET", f"{API}/docs/assets/swagger-ui.css", 200),
        ("GET", "/admin/login", 200),
    ],
)
def test_every_response_says_nosniff(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path, json={})

    assert response.status_code == status
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert "x-request-id" in response.headers


@pytest.mark.parametrize("page", ["docs", "redoc", "docs/oauth2-redirect"])
def test_the_docs_pages_cannot_be_framed_and_run_only_their_scripts(
    client: TestClient, page: str
) -> None:
    response = client.get(f"{API}/{page}")

    assert response.headers["x-frame-options"] == "DENY"
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy["script-src"]
    assert "http" not in response.headers["content-security-policy"]  # no other site
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"
        for code in inline
    }
    assert hashes <= set(policy["script-src"].split())


@pytest.mark.parametrize("path", ["/boom-sync", "/boom-async"])
def test_an_unhandled_error_is_a_bare_500(crashing_client: TestClient, path: str) -> None:
    response = crashing_client.get(path)

    assert response.status_code == 500
    assert response.json() == error_body(ErrorCode.INTERNAL_ERROR)
    assert response.headers["content-type"] == "application/json"
    for leak in ("Traceback", "RuntimeError", "sensitive internal detail", "File "):
        assert leak not in response.text
    assert SANE_REQUEST_ID.fullmatch(response.headers["X-Request-ID"])


def test_an_unhandled_error_keeps_the_incoming_request_id(crashing_client: TestClient) -> None:
    response = crashing_client.get("/boom-sync", headers={"X-Request-ID": "trace-500"})

    assert response.status_code == 500
    assert response.headers.get_list("X-Request-ID") == ["trace-500"]


def test_the_app_keeps_answering_after_an_unhandled_error(crashing_client: TestClient) -> None:
    assert crashing_client.get("/boom-sync").status_code == 500
    assert crashing_client.get("/health").status_code == 200


# Body size


def test_a_body_of_exactly_one_mebibyte_is_accepted(client: TestClient) -> None:
    body = json_body_of_size(MAX_BODY, email="nobody@example.com", password="wrong password")

    response = client.post(
        f"{API}/auth/login", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code in {401, 422}, response.text


def test_a_body_one_byte_over_the_limit_is_refused(client: TestClient) -> None:
    body = json_body_of_size(MAX_BODY + 1, email="nobody@example.com", password="wrong password")

    response = client.post(
        f"{API}/auth/login", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert list(response.json()) == ["detail", "code"]
    assert isinstance(response.json()["detail"], str)


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A streamed body of `total` bytes (sent without Content-Length)."""
    sent = 0
    while sent < total:
        chunk = b"x" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


def test_a_streamed_body_over_the_limit_is_refused(client: TestClient) -> None:
    response = client.post(
        f"{API}/auth/login",
        content=chunks(2 * MAX_BODY),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert list(response.json()) == ["detail", "code"]
    assert "X-Request-ID" in response.headers


def test_a_streamed_body_within_the_limit_is_read(client: TestClient) -> None:
    body = json_body_of_size(MAX_BODY, email="nobody@example.com", password="wrong password")

    response = client.post(
        f"{API}/auth/login",
        content=iter([body[: MAX_BODY // 2], body[MAX_BODY // 2 :]]),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code in {401, 422}, response.text


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz"]
)
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
def test_an_oversized_form_is_refused(
    client: TestClient, content_type: str, streamed: bool
) -> None:
    form = b"username=nobody%40example.com&password=" + b"x" * (2 * MAX_BODY)

    response = client.post(
        f"{API}/auth/token",
        content=chunks(len(form)) if streamed else form,
        headers={"Content-Type": content_type},
    )

    assert response.status_code == 413
    assert list(response.json()) == ["detail", "code"]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
def test_an_oversized_registration_stores_nothing(
    client: TestClient, engine: Engine, streamed: bool
) -> None:
    email = "big@example.com"
    body = json_body_of_size(2 * MAX_BODY, email=email, password=PASSWORD)

    response = client.post(
        f"{API}/auth/register",
        content=iter([body]) if streamed else body,
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 413
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(User)).one() == 0


# CORS


def test_cors_allows_the_configured_origin_and_exposes_the_total_count(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    client = make_client(cors_origins=ORIGIN)

    response = client.get(f"{API}/items", headers={**user.headers, "Origin": ORIGIN})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    exposed = {
        name.strip().lower()
        for name in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert "x-total-count" in exposed
    assert response.headers["X-Total-Count"] == "0"


def test_cors_preflight_is_answered(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins=ORIGIN)

    response = client.options(
        f"{API}/items",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert "X-Request-ID" in response.headers


def test_cors_accepts_each_of_several_origins(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins="https://a.example, https://b.example")

    for origin in ("https://a.example", "https://b.example"):
        response = client.get("/health", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin


def test_cors_ignores_other_origins(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins=ORIGIN)

    response = client.get("/health", headers={"Origin": "https://evil.example"})

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_any_origin_outside_production_allows_no_credentials(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(cors_origins="*")

    response = client.get("/health", headers={"Origin": "null"})

    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_no_cors_headers_without_configured_origins(client: TestClient) -> None:
    response = client.get("/health", headers={"Origin": ORIGIN})
    preflight = client.options(
        f"{API}/items", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )

    assert response.status_code == 200
    for answer in (response, preflight):
        assert not [name for name in answer.headers if name.lower().startswith("access-control")]


# OpenAPI


@pytest.fixture
def openapi(client: TestClient) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every operation in `spec`."""
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in methods:
                yield method.upper(), path, operation


def is_component_ref(schema: dict[str, Any], spec: dict[str, Any]) -> bool:
    """Whether `schema` is a `$ref` to a schema that exists in the components."""
    ref = schema.get("$ref", "")
    prefix = "#/components/schemas/"
    return ref.startswith(prefix) and ref.removeprefix(prefix) in spec["components"]["schemas"]


def property_names(schema: Any, spec: dict[str, Any], seen: set[str] | None = None) -> set[str]:
    """Every property name reachable from `schema`, following `$ref`s."""
    seen = set() if seen is None else seen
    names: set[str] = set()
    if isinstance(schema, list):
        for part in schema:
            names |= property_names(part, spec, seen)
    elif isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            names |= property_names(spec["components"]["schemas"][ref.split("/")[-1]], spec, seen)
        names |= set(schema.get("properties", {}))
        for value in schema.values():
            names |= property_names(value, spec, seen)
    return names


@pytest.mark.parametrize("page", ["openapi.json", "docs", "redoc"])
def test_the_api_documentation_is_served(client: TestClient, page: str) -> None:
    response = client.get(f"{API}/{page}")

    assert response.status_code == 200
    expected_type = "application/json" if page.endswith(".json") else "text/html"
    assert response.headers["content-type"].startswith(expected_type)


def test_every_operation_has_a_unique_readable_operation_id(openapi: dict[str, Any]) -> None:
    ids = [operation.get("operationId", "") for _, _, operation in operations(openapi)]

    assert len(ids) >= 20
    assert [i for i in ids if not OPERATION_ID.fullmatch(i)] == []
    assert len(set(ids)) == len(ids)


def test_every_request_body_is_a_named_schema(openapi: dict[str, Any]) -> None:
    bodies = [
        (method, path, media_type, content["schema"])
        for method, path, operation in operations(openapi)
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items()
    ]

    assert len(bodies) >= 10
    assert {media for _, _, media, _ in bodies} == {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    assert [body for body in bodies if not is_component_ref(body[3], openapi)] == []


def test_every_json_success_response_is_a_named_schema(openapi: dict[str, Any]) -> None:
    unnamed = []
    checked = 0
    for method, path, operation in operations(openapi):
        for code, response in operation["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if not code.startswith("2") or schema is None:
                continue
            checked += 1
            if schema.get("type") == "array":
                schema = schema.get("items", {})
            if not is_component_ref(schema, openapi):
                unnamed.append((method, path, code))

    assert checked >= 15
    assert unnamed == []


def test_no_response_schema_has_a_password_field(openapi: dict[str, Any]) -> None:
    exposed = []
    for method, path, operation in operations(openapi):
        for code, response in operation["responses"].items():
            names = property_names(response.get("content", {}), openapi)
            exposed += [(method, path, code, n) for n in names if "password" in n.lower()]

    assert exposed == []
    # The check does look at the schemas: UserPublic's fields are found.
    user_public = openapi["paths"][f"{API}/users/me"]["get"]["responses"]["200"]
    assert {"email", "isActive"} <= property_names(user_public, openapi)


def test_openapi_responses_never_contain_a_password(openapi: dict[str, Any]) -> None:
    components = openapi["components"]["schemas"]
    responses = [operation["responses"] for _, _, operation in operations(openapi)]
    refs: set[str] = set()
    names = property_names(responses, openapi, refs)
    seen = {ref.rsplit("/", 1)[-1] for ref in refs}

    assert {"UserPublic", "ItemPublic", "TokenPair"} <= seen  # the walk reaches them
    assert {name for name in names if "password" in name.lower()} == set()
    for name in seen - {"ErrorCode"}:  # codes such as CURRENT_PASSWORD_WRONG are no data
        assert "password" not in str(components[name]).lower(), name
    # The request side does carry passwords, so the search would find one there.
    assert "password" in components["UserCreate"]["properties"]


def test_every_path_is_under_the_api_prefix_except_health(openapi: dict[str, Any]) -> None:
    paths = set(openapi["paths"])

    assert {"/health", "/health/ready"} <= paths
    outside = {path for path in paths if not path.startswith(f"{API}/")}
    assert outside == {"/health", "/health/ready"}


@pytest.mark.parametrize("prefix", [API, "/api/v2"])
def test_the_token_url_resolves_to_the_token_endpoint(
    make_client: Callable[..., TestClient], prefix: str
) -> None:
    client = make_client(api_v1_prefix=prefix)
    spec = client.get(f"{prefix}/openapi.json").json()
    flows = [
        scheme["flows"]["password"]
        for scheme in spec["components"]["securitySchemes"].values()
        if scheme.get("type") == "oauth2"
    ]

    assert len(flows) == 1
    token_url = flows[0]["tokenUrl"]
    for page in (f"{prefix}/docs", f"{prefix}/openapi.json"):
        assert urlsplit(urljoin(f"http://testserver{page}", token_url)).path == (
            f"{prefix}/auth/token"
        )
    response = client.post(
        f"{prefix}/auth/token", data={"username": "nobody@example.com", "password": "wrong one"}
    )
    assert response.status_code == 401


# Wire format


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (ErrorCode.EMAIL_ALREADY_REGISTERED, "Email already registered"),
        (ErrorCode.LOGIN_BAD_CREDENTIALS, "Invalid email or password"),
        (ErrorCode.REFRESH_TOKEN_INVALID, "Invalid refresh token"),
        (ErrorCode.USER_NOT_FOUND, "User not found"),
        (ErrorCode.ITEM_NOT_FOUND, "Item not found"),
        (ErrorCode.SESSION_NOT_FOUND, "Session not found"),
        (ErrorCode.INTERNAL_ERROR, "Internal server error"),
    ],
)
def test_error_bodies_keep_their_wording(code: ErrorCode, message: str) -> None:
    # Tests compare whole error bodies with `error_body(code)`; this pins the words.
    assert error_body(code) == {"detail": message, "code": code.name}


@pytest.mark.parametrize(
    "password", ["Qz7!shx", "Qz7!" + "\u00e9" * 40], ids=["too-short", "over-72-bytes"]
)
def test_validation_errors_keep_the_list_shape_and_hide_the_input(
    client: TestClient, password: str
) -> None:
    response = client.post(
        f"{API}/auth/register", json={"email": "new@example.com", "password": password}
    )

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail
    for error in detail:
        assert {"type", "loc", "msg"} <= set(error)
        assert "input" not in error
    assert ["body", "password"] in [error["loc"] for error in detail]
    assert password not in response.text
    assert json.dumps(password)[1:-1] not in response.text  # nor its escaped form


def test_token_validation_errors_do_not_echo_the_password(client: TestClient) -> None:
    password = "Tk9-" + "p" * 1100  # over the sign-in length limit

    response = client.post(
        f"{API}/auth/token", data={"username": "not-an-email", "password": password}
    )

    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", "username"] in locations
    assert ["body", "password"] in locations
    assert "Tk9-ppp" not in response.text
    assert "not-an-email" not in response.text


def test_validation_errors_do_not_echo_a_rejected_email(client: TestClient) -> None:
    rejected = "secret-looking-value-not-an-email"
    response = client.post(f"{API}/auth/login", json={"email": rejected, "password": "whatever"})

    assert response.status_code == 422
    assert rejected not in response.text


@pytest.mark.parametrize("field", ["refresh_token", "refreshToken"])
def test_refresh_accepts_snake_and_camel_case(client: TestClient, field: str) -> None:
    response = client.post(f"{API}/auth/refresh", json={field: "not-a-valid-token"})

    assert_unauthorized(response)


@pytest.mark.parametrize("field", ["refresh_token", "refreshToken"])
def test_a_real_refresh_works_in_either_case_and_answers_in_camel_case(
    client: TestClient, user: Account, field: str
) -> None:
    response = client.post(f"{API}/auth/refresh", json={field: user.refresh_token})

    assert response.status_code == 200
    assert set(response.json()) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}


@pytest.mark.parametrize("field", ["new_password", "newPassword"])
def test_reset_confirm_accepts_snake_and_camel_case(client: TestClient, field: str) -> None:
    response = client.post(
        f"{API}/auth/password-reset/confirm", json={"token": "not-a-token", field: PASSWORD}
    )

    assert response.status_code == 400
