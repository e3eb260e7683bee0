"""Scenario (k): GET of a 1 MiB stored file through the service, against the limit
app sending the same file from disk (`bench/limit_files.py`)."""

from contextlib import ExitStack

import httpx

from bench import seed
from bench.context import API, Bench, sign_in
from bench.report import Ratio, Run
from bench.wrk import Load

FILE_BYTES = 1024 * 1024
PNG_START = b"\x89PNG\r\n\x1a\n"
CONNECTIONS = 16


def stored_file(base: str, token: str) -> str:
    """Upload a 1 MiB file to a new item of the token's user; its download path."""
    headers = {"Authorization": f"Bearer {token}"}
    item = httpx.post(f"{base}{API}/items", json={"title": "Bench file"}, headers=headers)
    item.raise_for_status()
    data = PNG_START + bytes(FILE_BYTES - len(PNG_START))
    url = f"{base}{API}/items/{item.json()['id']}/files"
    uploaded = httpx.post(url, files={"file": ("bench.png", data, "image/png")}, headers=headers)
    uploaded.raise_for_status()
    return f"{API}/items/{item.json()['id']}/files/{uploaded.json()['id']}/content"


def scenario_k(bench: Bench) -> None:
    """GET /items/{itemId}/files/{fileId}/content of a 1 MiB file, 16 conn, PG."""
    directory = bench.tmp / "attachments"
    service_env = bench.service_env(bench.database_url, ATTACHMENT_DIR=str(directory))
    limit_env = {
        "JWT_SECRET_KEY": bench.secret, "LIMIT_DSN": bench.dsn,
        "LIMIT_ATTACHMENT_DIR": str(directory),
    }  # fmt: skip
    with ExitStack() as stack:
        service = stack.enter_context(bench.serve_service("service files", service_env))
        limit = stack.enter_context(
            bench.serve("limit files", "bench.limit_files:app", limit_env, options=[])
        )
        token = sign_in(service.base, seed.READER)
        path = stored_file(service.base, token)
        served = bench.measure(service, Load(service.base + path, CONNECTIONS, token=token))
        sent = bench.measure(limit, Load(limit.base + path, CONNECTIONS, token=token))
    ratio = served.requests_per_second / sent.requests_per_second if sent.requests_per_second else 0
    bench.report.add(
        Run("(k) GET of a 1 MiB file, 16 conn, PG", "service", served),
        Run("", "limit", sent),
        Ratio(ratio, "x limit app", 0.3),
    )
