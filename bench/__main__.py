"""`make bench`: load figures of the service on PostgreSQL, as ratios measured in one run.

Starts the service (2 uvicorn workers, production settings) and the limit app
(bench/limit_app.py, served the same way) on a scratch database, seeds it, drives
each scenario with wrk from 127.0.0.1 and prints one line per scenario. See
bench/README.md for what the scenarios mean.
"""

import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import httpx
import psycopg2
import psycopg2.extras
from sqlalchemy import create_engine, make_url, text

from app.config import Settings
from app.migrations import migrate

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "abcde")
PASSWORD = "bench password 1"
USER_AGENT_HEADERS = {"User-Agent": "bench"}


@dataclass
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int

    def __str__(self) -> str:
        rate = self.requests_per_second
        return (
            f"{rate:9,.{0 if rate >= 100 else 1}f} req/s  p50 {self.p50_ms:7.2f} ms  "
            f"p99 {self.p99_ms:7.2f} ms  non-2xx {self.non_2xx}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> Result:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if not (rps and p50 and p99):
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return Result(
        requests_per_second=float(rps.group(1)),
        p50_ms=to_ms(p50.group(1)),
        p99_ms=to_ms(p99.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


class Wrk:
    """Runs wrk with a Lua script that sets the method, headers and body."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def start(
        self,
        url: str,
        *,
        connections: int,
        seconds: int,
        token: str | None = None,
        json_body: str | None = None,
    ) -> subprocess.Popen[str]:
        lines = []
        if token:
            lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
        if json_body:
            escaped = json_body.replace("\\", "\\\\").replace('"', '\\"')
            lines += [
                'wrk.method = "POST"',
                'wrk.headers["Content-Type"] = "application/json"',
                f'wrk.body = "{escaped}"',
            ]
        script = self.workdir / f"{uuid.uuid4().hex}.lua"
        script.write_text("\n".join(lines) + "\n")
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
        command += ["-s", str(script), url]
        return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    def run(self, url: str, *, connections: int, warmup: int = 2, **kwargs: str | None) -> Result:
        self.start(url, connections=connections, seconds=warmup, **kwargs).communicate()
        process = self.start(url, connections=connections, seconds=SECONDS, **kwargs)
        return parse_wrk(process.communicate()[0])


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    name = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def libpq_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def insert_users(
    dsn: str, count: int, password_hash: str, *, role: str = "USER", email: str | None = None
) -> None:
    """Insert `count` users (named `email` when one) with distinct creation times."""
    start = datetime.now(UTC) - timedelta(days=30)
    rows = [
        (
            uuid.uuid4(),
            email or f"filler-{uuid.uuid4().hex}@example.com",
            f"Filler {n}",
            password_hash,
            role,
            True,
            start + timedelta(seconds=n),
            start + timedelta(seconds=n),
        )
        for n in range(count)
    ]
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        psycopg2.extras.register_uuid()
        psycopg2.extras.execute_values(
            cursor,
            "INSERT INTO users (id, email, name, password_hash, role, is_active, created_at,"
            " updated_at) VALUES %s",
            rows,
            page_size=5000,
        )
    vacuum(dsn)


def insert_items(dsn: str, owner_email: str, count: int) -> None:
    start = datetime.now(UTC) - timedelta(days=10)
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        psycopg2.extras.register_uuid()
        cursor.execute("SELECT id FROM users WHERE email = %s", (owner_email,))
        owner = cursor.fetchone()[0]
        rows = [
            (uuid.uuid4(), f"Item {n}", "A benchmark item", owner, start + timedelta(seconds=n))
            for n in range(count)
        ]
        psycopg2.extras.execute_values(
            cursor,
            "INSERT INTO items (id, title, description, owner_id, created_at, updated_at)"
            " VALUES %s",
            [(*row, row[-1]) for row in rows],
        )
    vacuum(dsn)


def vacuum(dsn: str) -> None:
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()


def count_users(dsn: str) -> int:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM users")
        total: int = cursor.fetchone()[0]
        return total


@contextmanager
def served(app: str, port: int, env: dict[str, str], ready_path: str) -> Iterator[str]:
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port)]
    command += ["--workers", str(WORKERS), "--no-access-log", "--log-level", "warning"]
    if app.endswith("create_app"):
        command.append("--factory")
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + ready_path, timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def sign_in(base: str, email: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers=USER_AGENT_HEADERS,
        timeout=30,
    )
    response.raise_for_status()
    token: str = response.json()["accessToken"]
    return token


def bcrypt_seconds(rounds: int) -> float:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds))
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        bcrypt.checkpw(PASSWORD.encode(), hashed)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def verdict(value: float, target: float, *, at_most: bool = False) -> str:
    met = value <= target if at_most else value >= target
    return f"{'MET' if met else 'MISSED'} (target {'<=' if at_most else '>='} {target:g})"


def seed(dsn: str, password_hash: str) -> None:
    """An admin, a reader with 1,000 items, a login account, fillers up to 1,000 users."""
    insert_users(dsn, 1, password_hash, role="ADMIN", email="admin@bench.example")
    insert_users(dsn, 1, password_hash, email="reader@bench.example")
    insert_users(dsn, 1, password_hash, email="login@bench.example")
    insert_users(dsn, 997, password_hash)
    insert_items(dsn, "reader@bench.example", 1000)


def report(
    results: dict[str, Result], limits: dict[str, Result], figures: dict[str, float]
) -> None:
    for key, label, target in (
        ("a", "(a) GET /users/me, 64 conn", 0.3),
        ("b", "(b) GET /items?limit=20, 64 conn", 0.5),
    ):
        if key in results:
            ratio = results[key].requests_per_second / limits[key].requests_per_second
            print(f"{label:40} service {results[key]}")
            print(f"{'':40} limit   {limits[key]}")
            print(f"{'':40} ratio   {ratio:.2f} x limit app  {verdict(ratio, target)}")
    if "c" in results:
        print(
            f"bcrypt cost {figures['rounds']:.0f}: {figures['hash_ms']:.0f} ms per hash; "
            f"{figures['slots']:.0f} hashing slots ({WORKERS} workers x "
            f"{figures['slots'] / WORKERS:.0f}); login ceiling {figures['ceiling']:.1f}/s"
        )
        c_ratio = results["c"].requests_per_second / figures["ceiling"]
        print(f"{'(c) POST /auth/login, 16 conn':40} service {results['c']}")
        print(f"{'':40} ratio   {c_ratio:.2f} x login ceiling  {verdict(c_ratio, 0.9)}")
    if "d" in results:
        d_ratio = results["d"].requests_per_second / results["a"].requests_per_second
        print(f"{'(d) (a) during a (c) login flood':40} service {results['d']}")
        print(f"{'':40} ratio   {d_ratio:.2f} x (a)  {verdict(d_ratio, 0.5)}")
    if "e_large" in results:
        small, large = figures["small_users"], figures["large_users"]
        print(f"{f'(e) GET /users?limit=20, {small:,.0f} users':40} service {results['e_small']}")
        print(f"{f'(e) GET /users?limit=20, {large:,.0f} users':40} service {results['e_large']}")
        e_ratio = results["e_large"].p50_ms / results["e_small"].p50_ms
        print(f"{'':40} ratio   {e_ratio:.2f} x p50  {verdict(e_ratio, 2, at_most=True)}")


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is missing: install it (Debian: apt-get install wrk; macOS: brew install wrk)")
        return 2
    server_url = Settings(
        _env_file=None,
        environment="test",
        database_url=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    ).database_url
    defaults = Settings(_env_file=None, environment="production", jwt_secret_key="x" * 32)
    rounds = defaults.bcrypt_rounds
    slots = WORKERS * defaults.password_hash_concurrency
    secret = secrets.token_urlsafe(48)
    print(
        f"bench: {os.cpu_count()} CPUs, {WORKERS} workers per app, {SECONDS} s per scenario, "
        f"scenarios {SCENARIOS}"
    )

    results: dict[str, Result] = {}
    limits: dict[str, Result] = {}
    figures: dict[str, float] = {"rounds": rounds, "slots": slots}
    with scratch_database(server_url) as database_url, tempfile.TemporaryDirectory() as tmp:
        dsn = libpq_dsn(database_url)
        migrate(database_url)
        password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds)).decode()
        seed(dsn, password_hash)
        wrk = Wrk(Path(tmp))
        service_env = {
            "ENVIRONMENT": "production",
            "JWT_SECRET_KEY": secret,
            "DATABASE_URL": database_url,
        }
        limit_env = {"JWT_SECRET_KEY": secret, "LIMIT_DSN": dsn}
        with (
            served("app.main:create_app", free_port(), service_env, "/health") as service,
            served("bench.limit_app:app", free_port(), limit_env, "/") as limit,
        ):
            reader = sign_in(service, "reader@bench.example")
            admin = sign_in(service, "admin@bench.example")
            me, items = "/api/v1/users/me", "/api/v1/items?limit=20"
            users_page = service + "/api/v1/users?limit=20"
            login = (
                service + "/api/v1/auth/login",
                f'{{"email": "login@bench.example", "password": "{PASSWORD}"}}',
            )
            if "a" in SCENARIOS or "d" in SCENARIOS:
                results["a"] = wrk.run(service + me, connections=64, token=reader)
                limits["a"] = wrk.run(limit + me, connections=64, token=reader)
            if "b" in SCENARIOS:
                results["b"] = wrk.run(service + items, connections=64, token=reader)
                limits["b"] = wrk.run(limit + items, connections=64, token=reader)
            if "c" in SCENARIOS:
                hash_seconds = bcrypt_seconds(rounds)
                figures.update(hash_ms=hash_seconds * 1000, ceiling=slots / hash_seconds)
                results["c"] = wrk.run(login[0], connections=16, json_body=login[1])
            if "d" in SCENARIOS:
                flood = wrk.start(login[0], connections=16, seconds=SECONDS + 4, json_body=login[1])
                time.sleep(2)
                results["d"] = wrk.run(service + me, connections=64, token=reader, warmup=1)
                flood.communicate()
            if "e" in SCENARIOS:
                figures["small_users"] = count_users(dsn)
                results["e_small"] = wrk.run(users_page, connections=64, token=admin)
                insert_users(dsn, 100_000 - count_users(dsn), password_hash)
                figures["large_users"] = count_users(dsn)
                results["e_large"] = wrk.run(users_page, connections=64, token=admin)

    report(results, limits, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
