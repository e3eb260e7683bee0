"""What the scenarios share: the run's settings, its servers, and how a figure is taken.

A `Pair` is the service and its limit app on one database (PostgreSQL or SQLite),
with access tokens of the seeded accounts. `Bench.measure` warms up (2 s) and then
measures with wrk; the first warm-up against the watched service also takes the
"after warm-up" memory reading of scenario (h).
"""

import statistics
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import httpx

from bench import seed
from bench.report import Note, Report
from bench.servers import WORKERS, Server, served, service_options
from bench.wrk import Load, Wrk, WrkResult

API = "/api/v1"
USER_AGENT = {"User-Agent": "bench"}
SERVICE = "app.main:create_app"
# Long enough for any BENCH_SECONDS; the lifetime of a token costs nothing per request.
TOKEN_MINUTES = "720"


@dataclass(frozen=True)
class Pair:
    """The service and the limit app on one database, access tokens by email, and the
    service's workers' VmRSS (KiB) right after start."""

    service: Server
    limit: Server
    tokens: dict[str, str]
    idle_rss: dict[int, int]


@dataclass
class Memory:
    """VmRSS (KiB) of the watched service's workers at three moments."""

    idle: dict[int, int] = field(default_factory=dict)
    warm: dict[int, int] = field(default_factory=dict)
    after: dict[int, int] = field(default_factory=dict)


@dataclass
class Bench:
    """The state of one `make bench` run."""

    wrk: Wrk
    report: Report
    seconds: int
    tmp: Path
    database_url: str
    secret: str
    rounds: int
    slots: int
    password_hash: str
    watched: Server | None = None
    servers: list[Server] = field(default_factory=list)
    memory: Memory = field(default_factory=Memory)
    figures: dict[str, WrkResult] = field(default_factory=dict)
    _ceiling: float | None = None

    @property
    def dsn(self) -> str:
        return seed.libpq_dsn(self.database_url)

    def service_env(self, database_url: str, **extra: str) -> dict[str, str]:
        return {
            "ENVIRONMENT": "production",
            "JWT_SECRET_KEY": self.secret,
            "DATABASE_URL": database_url,
            "BCRYPT_ROUNDS": str(self.rounds),
            "PASSWORD_HASH_CONCURRENCY": str(self.slots // WORKERS),
            "ACCESS_TOKEN_EXPIRE_MINUTES": TOKEN_MINUTES,
            "LOG_LEVEL": "info",
            **extra,
        }

    @contextmanager
    def serve(
        self, name: str, app: str, env: dict[str, str], options: list[str], ready_path: str = "/"
    ) -> Iterator[Server]:
        """`app` served (see `servers.served`), its log kept for `complaints`."""
        with served(
            name, app, env, logdir=self.tmp, options=options, ready_path=ready_path
        ) as server:
            self.servers.append(server)
            yield server

    def serve_service(
        self, name: str, env: dict[str, str], app: str = SERVICE
    ) -> AbstractContextManager[Server]:
        """The service (or another factory `app`) served as in production."""
        return self.serve(name, app, env, service_options(self.tmp), ready_path="/health")

    def complaints(self) -> None:
        """Report the first distinct warnings and errors in each server's log."""
        for server in self.servers:
            if found := server.complaints():
                self.report.add(Note(f"log of the {server.name}:", "warnings and errors"))
                self.report.add(*(Note(f"  {line}") for line in found))

    def measure(self, server: Server, load: Load) -> WrkResult:
        """A 2 s warm-up, then a measured run of BENCH_SECONDS."""
        self.wrk.warm_up(load)
        if server is self.watched and not self.memory.warm:
            self.memory.warm = server.worker_rss_kib()
        return self.wrk.measure(load, self.seconds)

    def ceiling(self) -> float:
        """Sign-ins per second the hashing slots allow: slots / one bcrypt check."""
        if self._ceiling is None:
            hash_seconds = bcrypt_seconds(self.rounds)
            self._ceiling = self.slots / hash_seconds
            self.report.add(ceiling_note(self.rounds, hash_seconds, self.slots, self._ceiling))
        return self._ceiling


def bcrypt_seconds(rounds: int) -> float:
    """The median time of one bcrypt check at cost `rounds`, on this process."""
    hashed = bcrypt.hashpw(seed.PASSWORD.encode(), bcrypt.gensalt(rounds))
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        bcrypt.checkpw(seed.PASSWORD.encode(), hashed)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def ceiling_note(rounds: int, hash_seconds: float, slots: int, ceiling: float) -> Note:
    return Note(
        f"bcrypt cost {rounds}: {hash_seconds * 1000:.0f} ms per hash; {slots} hashing slots "
        f"({WORKERS} workers x {slots // WORKERS}); login ceiling {ceiling:.1f}/s"
    )


def sign_in(base: str, email: str) -> str:
    """An access token of `email`, from the service at `base`."""
    response = httpx.post(
        f"{base}{API}/auth/login",
        json={"email": email, "password": seed.PASSWORD},
        headers=USER_AGENT,
        timeout=60,
    )
    response.raise_for_status()
    token: str = response.json()["accessToken"]
    return token


def api_token(base: str, access_token: str, scopes: list[str]) -> str:
    """A new personal API token, created with `access_token`."""
    response = httpx.post(
        f"{base}{API}/users/me/tokens",
        json={"name": "bench", "scopes": scopes, "expiresInDays": 1},
        headers={**USER_AGENT, "Authorization": f"Bearer {access_token}"},
        timeout=60,
    )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


@contextmanager
def pair(
    bench: Bench, name: str, database_url: str, limit: tuple[str, dict[str, str]]
) -> Iterator[Pair]:
    """The service on `database_url` and the limit app `limit` (module:app, env)."""
    with ExitStack() as stack:
        service = stack.enter_context(
            bench.serve_service(f"service {name}", bench.service_env(database_url))
        )
        limit_server = stack.enter_context(bench.serve(f"limit {name}", *limit, options=[]))
        idle_rss = service.worker_rss_kib()
        tokens = {
            email: sign_in(service.base, email) for email in (seed.ADMIN, seed.READER, seed.WRITER)
        }
        yield Pair(service, limit_server, tokens, idle_rss)


def postgres_pair(bench: Bench) -> AbstractContextManager[Pair]:
    env = {"JWT_SECRET_KEY": bench.secret, "LIMIT_DSN": bench.dsn}
    return pair(bench, "PostgreSQL", bench.database_url, ("bench.limit_app:app", env))


def sqlite_pair(bench: Bench) -> AbstractContextManager[Pair]:
    path = bench.tmp / "bench.db"
    url = seed.seed_sqlite(path, bench.password_hash)
    env = {"JWT_SECRET_KEY": bench.secret, "LIMIT_SQLITE_PATH": str(path)}
    return pair(bench, "SQLite", url, ("bench.limit_sqlite:app", env))
