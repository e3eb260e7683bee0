"""CPU time per request inside the app, without a server, a network or a second process.

`python -m bench.cpu sqlite` (or `postgresql`: a scratch database on `BENCH_DATABASE_URL`,
default the local server) builds the app with production settings, signs a user in
through the API, and sends each request many times straight to the ASGI app, one at a
time, timing the process's CPU (`time.process_time`, every thread). What a busy machine
does to wall-clock figures hardly touches this one, so it tells two versions of the code
apart where `make bench` cannot: run it in each checkout and compare.

Only the app is measured: uvicorn's HTTP parsing and the event loop's socket work are
not (that is what `make bench` adds).
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import psycopg2

API = "/api/v1"
PASSWORD = "correct horse battery"
ROUNDS = int(os.environ.get("BENCH_CPU_ROUNDS", "5"))
REQUESTS = int(os.environ.get("BENCH_CPU_REQUESTS", "2000"))
Send = Callable[[str, str, bytes, str | None], Coroutine[Any, Any, tuple[int, bytes]]]


def asgi_client(app: Any) -> Send:
    """A function that sends one HTTP request to `app` and returns (status, body)."""

    async def send(method: str, path: str, body: bytes, token: str | None) -> tuple[int, bytes]:
        headers = [(b"host", b"bench"), (b"user-agent", b"bench")]
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        if body:
            length = str(len(body)).encode()
            headers += [(b"content-type", b"application/json"), (b"content-length", length)]
        path_only, _, query = path.partition("?")
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path_only, "raw_path": path_only.encode(),
            "query_string": query.encode(), "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        }  # fmt: skip
        chunks: list[bytes] = []
        status = 0
        sent, answered = False, asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:  # the client goes once it has the whole answer
                await answered.wait()
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def reply(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, reply)
        answered.set()
        return status, b"".join(chunks)

    return send


async def expect(
    send: Send, status: int, method: str, path: str, body: bytes, token: str | None
) -> bytes:
    """The body of the answer to one request, which must have `status`."""
    answered, answer = await send(method, path, body, token)
    if answered != status:
        raise RuntimeError(f"{method} {path}: {answered} {answer[:300]!r}")
    return answer


async def measure(
    send: Send, label: str, method: str, path: str, token: str, body: bytes = b""
) -> float:
    """Median over ROUNDS of the CPU milliseconds per request of REQUESTS requests."""
    status = 201 if method == "POST" else 200
    for _ in range(200):  # warm-up
        await expect(send, status, method, path, body, token)
    per_request = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(REQUESTS):
            await send(method, path, body, token)
        per_request.append((time.process_time() - started) * 1000 / REQUESTS)
    median = statistics.median(per_request)
    spread = ", ".join(f"{value:.3f}" for value in per_request)
    print(f"{label:<34} {median:.3f} ms CPU per request  (rounds: {spread})", flush=True)
    return median


def prepare(database_url: str) -> None:
    """Production settings on `database_url` for this process, and its schema."""
    os.environ.update(
        DATABASE_URL=database_url, ENVIRONMENT="production", BCRYPT_ROUNDS="4",
        JWT_SECRET_KEY="bench-" + "k" * 40, ACCESS_TOKEN_EXPIRE_MINUTES="720", LOG_LEVEL="warning",
    )  # fmt: skip
    subprocess.run([sys.executable, "-m", "app", "migrate"], check=True)


async def run(name: str) -> None:
    """Build the app as `prepare` set it up and measure it."""
    from app.main import create_app

    app = create_app()
    async with app.router.lifespan_context(app):
        await measure_app(asgi_client(app), name)


async def measure_app(send: Send, name: str) -> None:
    """Sign a user in, give them 50 items, and measure two reads (the first also with an
    API token) and a write."""
    email = f"cpu-{uuid.uuid4().hex[:8]}@example.com"
    account = json.dumps({"email": email, "password": PASSWORD}).encode()
    await expect(send, 201, "POST", f"{API}/auth/register", account, None)
    token = json.loads(await expect(send, 200, "POST", f"{API}/auth/login", account, None))[
        "accessToken"
    ]
    for number in range(50):
        item = json.dumps({"title": f"item {number}"}).encode()
        await expect(send, 201, "POST", f"{API}/items", item, token)
    await measure(send, f"GET /users/me, {name}", "GET", f"{API}/users/me", token)
    scopes = json.dumps({"name": "bench", "scopes": ["read"]}).encode()
    created = await expect(send, 201, "POST", f"{API}/users/me/tokens", scopes, token)
    api_token = json.loads(created)["token"]
    await measure(send, f"GET /users/me, API token, {name}", "GET", f"{API}/users/me", api_token)
    await measure(send, f"GET /items?limit=20, {name}", "GET", f"{API}/items?limit=20", token)
    item = json.dumps({"title": "written", "description": "by bench.cpu"}).encode()
    await measure(send, f"POST /items, {name}", "POST", f"{API}/items", token, item)


def postgres_scratch() -> tuple[str, Callable[[], None]] | None:
    """A scratch PostgreSQL database and how to drop it, or None when none answers."""
    server = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"bench_cpu_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg2.connect(server, connect_timeout=3)
    except psycopg2.OperationalError:
        return None
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return server.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> int:
    """Measure on the database the first argument names: `sqlite` (default) or `postgresql`."""
    target = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    if target == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            prepare(f"sqlite:///{Path(tmp) / 'cpu.db'}")
            asyncio.run(run("SQLite"))
        return 0
    scratch = postgres_scratch()
    if scratch is None:
        print("PostgreSQL does not answer: skipped")
        return 0
    url, drop = scratch
    try:
        prepare(url)
        asyncio.run(run("PostgreSQL"))
    finally:
        drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
