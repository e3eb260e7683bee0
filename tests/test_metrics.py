"""Prometheus metrics at /metrics: off by default, behind METRICS_TOKEN when set, refused
open in production; requests counted by route template, sign-ins by outcome, throttle
refusals; and a real Prometheus server scraping two workers."""

import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from app.core.config import Settings
from app.core.metrics import BUCKETS, Buckets
from tests.helpers import API, PASSWORD, Account, free_port, login_status, poll, start_server

TOKEN = "metrics-token-for-the-tests"


def samples(
    client: TestClient, **headers: str
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, by name and labels."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_off_by_default(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 404
    assert "/metrics" not in client.get(f"{API}/openapi.json").json()["paths"]


def test_requests_are_counted_by_route_template(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    client = make_client(metrics_enabled=True)
    route = f"{API}/items/{{itemId}}"
    before = samples(client)
    for _ in range(3):
        missing = client.get(f"{API}/items/{uuid.uuid4()}", headers=user.headers)
        assert missing.status_code == 404
    after = samples(client)
    labels = {"method": "GET", "route": route, "status": "404"}
    assert (
        value(after, "http_requests_total", **labels)
        - value(before, "http_requests_total", **labels)
        == 3
    )
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert not any(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}", route) for route in routes)  # no raw paths
    count = "http_request_duration_seconds_count"
    assert (
        value(after, count, method="GET", route=route)
        - value(before, count, method="GET", route=route)
        == 3
    )
    assert "/metrics" not in client.get(f"{API}/openapi.json").json()["paths"]


def test_made_up_methods_share_one_series(make_client: Callable[..., TestClient]) -> None:
    client = make_client(metrics_enabled=True)
    for method in ("FOO", "BAR", "BAZ"):
        assert client.request(method, f"{API}/items").status_code == 405
    methods = {dict(labels).get("method") for _, labels in samples(client)}
    assert "other" in methods
    assert not methods & {"FOO", "BAR", "BAZ"}


def test_samples_are_written_within_a_second_without_a_scrape(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(metrics_enabled=True)
    labels = {"method": "GET", "route": "/health", "status": "200"}
    before = value(samples(client), "http_requests_total", **labels)  # a scrape writes all
    for _ in range(3):
        assert client.get("/health").status_code == 200

    def written() -> bool:
        return REGISTRY.get_sample_value("http_requests_total", labels) == before + 3

    assert poll(written, seconds=30), "the tally was never written without a scrape"


def test_many_observations_written_at_once_equal_one_at_a_time() -> None:
    registry = CollectorRegistry()
    one_by_one = Histogram("one", "observed", buckets=BUCKETS, registry=registry)
    at_once = Histogram("many", "added", buckets=BUCKETS, registry=registry)
    observations = [0, 0.001, 0.005, 0.0050001, 0.3, 1, 2.5, 9.99, 10, 10.5, 300]
    buckets = Buckets()
    for seconds in observations:
        one_by_one.observe(seconds)
        buckets.add(seconds)
    buckets.write(at_once)

    def shown(name: str) -> list[tuple[str, dict[str, str], float]]:
        return [
            (sample.name.removeprefix(name), sample.labels, sample.value)
            for family in registry.collect()
            if family.name == name
            for sample in family.samples
            if not sample.name.endswith("_created")
        ]

    assert shown("many") == shown("one")
    assert len(shown("one")) == len(BUCKETS) + 3  # every bucket, +Inf, count and sum


def test_sign_ins_by_outcome(make_client: Callable[..., TestClient], user: Account) -> None:
    client = make_client(metrics_enabled=True)
    before = samples(client)
    assert login_status(client, user.email) == 200
    assert login_status(client, user.email, "a wrong password") == 401
    after = samples(client)
    for outcome in ("success", "bad_credentials"):
        gained = value(after, "sign_ins_total", outcome=outcome) - value(
            before, "sign_ins_total", outcome=outcome
        )
        assert gained == 1, outcome


def test_throttle_refusals_are_counted(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    client = make_client(metrics_enabled=True, login_max_failures_per_email=2)
    before = samples(client)
    statuses = [login_status(client, user.email, "a wrong password") for _ in range(3)]
    assert statuses == [401, 401, 429]
    after = samples(client)
    refused = "throttle_refusals_total"
    assert value(after, refused, throttle="email") - value(before, refused, throttle="email") == 1
    assert (
        value(after, "sign_ins_total", outcome="throttled")
        - value(before, "sign_ins_total", outcome="throttled")
        == 1
    )


def test_a_token_guards_the_metrics(make_client: Callable[..., TestClient]) -> None:
    client = make_client(metrics_enabled=True, metrics_token=TOKEN)
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
    assert samples(client, Authorization=f"Bearer {TOKEN}")


def test_open_metrics_are_refused_in_production() -> None:
    secret = "k" * 40
    with pytest.raises(ValidationError, match="METRICS_ENABLED without METRICS_TOKEN"):
        Settings(
            _env_file=None, environment="production", jwt_secret_key=secret, metrics_enabled=True
        )
    Settings(
        _env_file=None,
        environment="production",
        jwt_secret_key=secret,
        metrics_enabled=True,
        metrics_token=TOKEN,
    )


PROMETHEUS = shutil.which("prometheus")


@pytest.mark.slow  # a real server with two workers, and a real Prometheus
@pytest.mark.skipif(
    PROMETHEUS is None and os.environ.get("CI") != "true", reason="needs Debian's prometheus"
)
def test_a_real_prometheus_scrapes_two_workers(tmp_path: Path) -> None:
    assert PROMETHEUS is not None, "CI installs Debian's prometheus (.ci/run)"
    port, prometheus_port = free_port(), free_port()
    server = start_server(
        port,
        tmp_path / "server.log",
        database_url=f"sqlite:///{tmp_path / 'app.db'}",
        WEB_CONCURRENCY="2",
        METRICS_ENABLED="true",
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "samples"),
        BCRYPT_ROUNDS="4",
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: app\n"
        "    authorization:\n"
        f"      credentials: {TOKEN}\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{port}']\n"
    )
    prometheus = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        account = {"email": "scraped@example.com", "password": PASSWORD}
        assert httpx.post(f"{base}{API}/auth/register", json=account).status_code == 201
        for _ in range(20):  # spread over both workers
            assert httpx.post(f"{base}{API}/auth/login", json=account).status_code == 200
        query = 'sum(sign_ins_total{outcome="success"})'

        def scraped_all() -> bool:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{prometheus_port}/api/v1/query", params={"query": query}
                ).json()
            except (httpx.TransportError, ValueError):
                return False
            result = answer.get("data", {}).get("result", [])
            return bool(result) and float(result[0]["value"][1]) == 20

        assert poll(scraped_all, seconds=180), "Prometheus never saw the 20 sign-ins"
        up = httpx.get(
            f"http://127.0.0.1:{prometheus_port}/api/v1/query", params={"query": "up"}
        ).json()
        assert up["data"]["result"][0]["value"][1] == "1"
    finally:
        prometheus.send_signal(signal.SIGTERM)
        prometheus.wait(timeout=60)
        server.terminate()
        server.wait(timeout=120)
