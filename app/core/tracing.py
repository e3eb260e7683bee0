"""Traces over OpenTelemetry, when OTEL_EXPORTER_OTLP_ENDPOINT is set (and the
`opentelemetry` extra installed): a span for each request, from FastAPI's own
telemetry, and one for each SQL statement, from SQLAlchemy's instrumentation, sent
over OTLP/HTTP to `<endpoint>/v1/traces` in batches. Statements are recorded without
their parameters, so no value a user sent is in a span. Without an endpoint nothing
is imported and FastAPI's telemetry stays off.
"""

from typing import TYPE_CHECKING

from fastapi.telemetry import TelemetryConfig
from sqlalchemy import Engine

from app.core.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider


def _processor(endpoint: str) -> "SpanProcessor":
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"))


def tracer_provider(settings: Settings) -> "TracerProvider | None":
    """The provider this app's spans go to, or None without an endpoint."""
    if not settings.otel_exporter_otlp_endpoint:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create(
        {"service.name": settings.app_name, "service.version": settings.app_version}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(_processor(settings.otel_exporter_otlp_endpoint))
    return provider


def telemetry(provider: "TracerProvider | None") -> TelemetryConfig:
    """FastAPI's `telemetry` setting: request spans to `provider`, or nothing."""
    if provider is None:
        return TelemetryConfig(tracing=False, metrics=False, logs=False)
    return TelemetryConfig(tracer_provider=provider, metrics=False, logs=False)


def trace_statements(provider: "TracerProvider", *engines: Engine) -> None:
    """A span for each SQL statement the engines run (the engines of this app only:
    `SQLAlchemyInstrumentor.instrument` would patch every engine of the process, once)."""
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeter

    tracer = provider.get_tracer(__name__)
    connections = NoOpMeter(__name__).create_up_down_counter("db.client.connections.usage")
    for engine in engines:
        EngineTracer(tracer, engine, connections, enable_commenter=False)  # type: ignore[no-untyped-call]
