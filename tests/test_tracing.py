"""Traces over OpenTelemetry (OTEL_EXPORTER_OTLP_ENDPOINT): a span per request from
FastAPI and one per SQL statement from SQLAlchemy, caught by an in-memory exporter;
none without an endpoint."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.core import tracing
from tests.helpers import API, Account


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Spans go here, at once, instead of to the OTLP endpoint."""
    caught = InMemorySpanExporter()

    def processor(_endpoint: str) -> SpanProcessor:
        return SimpleSpanProcessor(caught)

    monkeypatch.setattr(tracing, "_processor", processor)
    return caught


def test_a_request_and_its_statements_are_traced(
    make_client: Callable[..., TestClient], exporter: InMemorySpanExporter, user: Account
) -> None:
    client = make_client(otel_exporter_otlp_endpoint="http://127.0.0.1:4318")
    secret_title = "a title nobody else knows"
    created = client.post(f"{API}/items", json={"title": secret_title}, headers=user.headers)
    assert created.status_code == 201
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert f"POST {API}/items" in names, names
    statements = [span for span in spans if span.attributes and "db.statement" in span.attributes]
    assert any("INSERT INTO items" in str(dict(span.attributes or {})) for span in statements)
    request = next(span for span in spans if span.name == f"POST {API}/items")
    assert {span.context.trace_id for span in statements} == {request.context.trace_id}
    assert all(secret_title not in str(span.attributes) for span in spans)  # no parameters
    assert all(span.resource.attributes["service.name"] == "SQLModel API" for span in spans)


def test_nothing_is_traced_without_an_endpoint(
    client: TestClient, exporter: InMemorySpanExporter, user: Account
) -> None:
    assert client.get(f"{API}/items", headers=user.headers).status_code == 200
    assert exporter.get_finished_spans() == ()
