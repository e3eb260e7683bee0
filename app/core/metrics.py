"""Prometheus metrics, served at `GET /metrics` when METRICS_ENABLED (behind
METRICS_TOKEN when set): requests by route template, method and status, their latency,
requests in flight, sign-ins by outcome, throttle refusals, and how long work waits
for a database or hashing thread.

With several workers, each process writes its samples to files in
PROMETHEUS_MULTIPROC_DIR (the client's multiprocess mode), which `python -m app serve`
empties before the workers start; `/metrics` adds them up. The client reads that
variable when it is first imported, so it is imported here only on first use, in the
worker. The request metrics come from `MetricsMiddleware`, installed only when metrics
are on, through the process's `Tally` (written within a second, and at each scrape);
the rare events (sign-ins, refusals) are counted always, straight away.
"""

import asyncio
import bisect
import functools
import hmac
import os
import shutil
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True, slots=True)
class Collectors:
    """The metrics of this process."""

    requests: Any
    latency: Any
    in_flight: Any
    sign_ins: Any
    throttle_refusals: Any
    thread_wait: Any


@functools.cache
def collectors() -> Collectors:
    """The metrics, made (and the client imported) on first use."""
    from prometheus_client import Counter, Gauge, Histogram

    return Collectors(
        requests=Counter("http_requests", "HTTP requests answered", ["method", "route", "status"]),
        latency=Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to the start of its response",
            ["method", "route"],
            buckets=BUCKETS,
        ),
        in_flight=Gauge(
            "http_requests_in_flight", "Requests being served", multiprocess_mode="livesum"
        ),
        sign_ins=Counter("sign_ins", "Sign-ins by outcome", ["outcome"]),
        throttle_refusals=Counter("throttle_refusals", "429s of a throttle", ["throttle"]),
        thread_wait=Histogram(
            "thread_wait_seconds",
            "Time work waited for a thread of its pool",
            ["pool"],
            buckets=BUCKETS,
        ),
    )


def count_sign_in(outcome: str) -> None:
    """One sign-in ended with `outcome` (success, bad_credentials, throttled, ...)."""
    collectors().sign_ins.labels(outcome).inc()


def count_throttle_refusal(throttle: str) -> None:
    """A throttle (`sign_in`, `password_reset`, ...) answered 429."""
    collectors().throttle_refusals.labels(throttle).inc()


def prepare_multiprocess_dir(settings: Settings) -> None:
    """Before the workers start: an empty directory for their samples."""
    if not settings.metrics_enabled:
        return
    memory = Path("/dev/shm")  # noqa: S108 - shared memory: samples never wait on a disk
    parent = memory if memory.is_dir() else Path(tempfile.gettempdir())
    default = parent / f"app-metrics-{os.getpid()}"
    directory = Path(os.environ.get(MULTIPROCESS_DIR) or default)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_DIR] = str(directory)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
FLUSH_SECONDS = 1.0


class Tally:
    """This process's request samples, noted in memory and written to the metrics at
    most FLUSH_SECONDS after the first unwritten one, and before every scrape.

    Writing each sample to the client's metrics costs a lock and a write to the
    multiprocess files, seven of them a request; a request here costs one `append`
    (callgrind, SQLite `GET /users/me`: metrics on cost 4.1 % more instructions a
    request than off when written one by one, 1.0 % so).
    Thread waits are appended from the pool threads (`deque.append` is thread-safe).
    """

    def __init__(self, metrics: Collectors) -> None:
        self.metrics = metrics
        self.in_flight = 0
        self.answered: deque[tuple[str, str, str, float | None]] = deque()
        self.waits: deque[tuple[str, float]] = deque()
        self.flush_on: asyncio.AbstractEventLoop | None = None  # the loop of the pending flush
        self.requests, self.latency = Series(metrics.requests), Series(metrics.latency)
        self.thread_wait = Series(metrics.thread_wait)

    def soon(self) -> None:
        """Flush within FLUSH_SECONDS, unless a flush is already due (on a live loop)."""
        if self.flush_on is None or self.flush_on.is_closed():
            self.flush_on = asyncio.get_running_loop()
            self.flush_on.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write what was noted since the last flush to the metrics."""
        self.flush_on = None
        self.metrics.in_flight.set(self.in_flight)
        counts: Counter[tuple[str, str, str]] = Counter()
        latencies: dict[tuple[str, ...], Buckets] = {}
        while self.answered:
            method, route, status, elapsed = self.answered.popleft()
            counts[method, route, status] += 1
            if elapsed is not None:
                latencies.setdefault((method, route), Buckets()).add(elapsed)
        waits: dict[tuple[str, ...], Buckets] = {}
        while self.waits:
            pool, seconds = self.waits.popleft()
            waits.setdefault((pool,), Buckets()).add(seconds)
        for request, count in counts.items():
            self.requests(*request).inc(count)
        for series, observed in ((self.latency, latencies), (self.thread_wait, waits)):
            for labels, buckets in observed.items():
                buckets.write(series(*labels))


class Buckets:
    """Observations added up by histogram bucket, to be written at once."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last: above every bound (+Inf)
        self.total = 0.0

    def add(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1  # the first bound >= seconds
        self.total += seconds

    def write(self, histogram: Any) -> None:
        """Add these observations to a histogram's child (the client has no public
        call for many observations: these are the values its `observe` adds to)."""
        histogram._sum.inc(self.total)
        for bucket, count in zip(histogram._buckets, self.counts, strict=True):
            if count:
                bucket.inc(count)


@functools.cache
def tally() -> Tally:
    """This process's tally (made, and the client imported, on first use)."""
    return Tally(collectors())


class Series:
    """A labelled metric's children, kept by their labels (`labels()` checks its
    arguments and takes a lock on every call)."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self.children.get(labels)
        if child is None:
            child = self.children[labels] = self.metric.labels(*labels)
        return child


class MetricsMiddleware:
    """Counts and times every HTTP request, by route template, method and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tally = tally()
        self.templates: dict[int, str] | None = None  # by id(): routes do not hash

    def route_of(self, scope: Scope) -> str:
        """The template of the route that served `scope` (`/api/v1/items/{itemId}`),
        never the raw path: one series per route, whatever the ids."""
        if self.templates is None:  # routers shared by apps carry no prefix: ask the app
            self.templates = {
                id(context.original_route): context.path_format
                for context in iter_route_contexts(scope["app"].routes)
                if context.path_format is not None
            }
        route = scope.get("route")
        if route is None:
            return "unmatched"
        return self.templates.get(id(route)) or getattr(route, "path", None) or "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status, elapsed = time.perf_counter(), 500, None  # 500 unless a response starts

        async def send_counted(message: Message) -> None:
            nonlocal status, elapsed
            if message["type"] == "http.response.start":
                status, elapsed = message["status"], time.perf_counter() - started
            await send(message)

        tally = self.tally
        tally.in_flight += 1
        tally.soon()
        try:
            await self.app(scope, receive, send_counted)
        finally:
            tally.in_flight -= 1
            method = scope["method"] if scope["method"] in METHODS else "other"  # bounded
            tally.answered.append((method, self.route_of(scope), str(status), elapsed))
            tally.soon()


def exposition() -> tuple[bytes, str]:
    """Every sample of every worker, in Prometheus' text format, and its media type."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    tally().flush()  # every metric shows, from the first scrape, with this process's news
    if not os.environ.get(MULTIPROCESS_DIR):
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    """`GET /metrics`: the exposition, behind METRICS_TOKEN when set."""
    token = settings.metrics_token.get_secret_value().encode() if settings.metrics_token else None

    async def metrics(request: Request) -> Response:
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token):
                return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
        body, media_type = exposition()
        return Response(body, media_type=media_type)

    return metrics
