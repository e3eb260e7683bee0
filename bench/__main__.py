"""`make bench`: load figures of the service, each a ratio to something measured in the
same run.

Creates a scratch PostgreSQL database (dropped at the end), seeds it, starts the
service and the limit apps with 2 uvicorn workers each, drives the scenarios with
wrk from 127.0.0.1 and prints their figures as they come. Exits 1 when any scenario
had errors (non-2xx answers, socket errors, timeouts) or stalled; a missed target
is printed, not a failure. BENCH_SCENARIOS (letters, default all), BENCH_SECONDS
(default 10) and BENCH_DATABASE_URL choose what runs where; see bench/README.md.
"""

import os
import secrets
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import bcrypt

from app.core.config import Settings
from bench import scenarios, seed
from bench.context import Bench
from bench.proxy import haproxy_path
from bench.report import Report, warn
from bench.servers import WORKERS
from bench.wrk import Wrk

LIMIT_APP_CONNECTIONS = 4  # the pool of bench/limit_app.py
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def chosen_letters() -> str | None:
    letters = os.environ.get("BENCH_SCENARIOS") or scenarios.ALL
    if set(letters) - set(scenarios.ALL):
        warn(f"BENCH_SCENARIOS takes letters of {scenarios.ALL!r}; got {letters!r}")
        return None
    return scenarios.plan(letters)


def chosen_seconds() -> int | None:
    value = os.environ.get("BENCH_SECONDS") or "10"
    if not value.isdigit() or int(value) < 1:
        warn(f"BENCH_SECONDS takes a whole number of seconds; got {value!r}")
        return None
    return int(value)


def server_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)
    return Settings(_env_file=None, environment="test", database_url=url).database_url


def check_connections(defaults: Settings, dsn: str) -> None:
    """Warn when PostgreSQL may not have the connections the service can open."""
    per_worker = (
        defaults.database_write_threads
        + defaults.database_read_threads
        + defaults.password_hash_threads
    )
    needed = WORKERS * (per_worker + LIMIT_APP_CONNECTIONS)
    free = seed.free_connections(dsn)
    if free < needed:
        warn(
            f"PostgreSQL accepts {free} more connections; the service and its limit app "
            f"may open up to {needed}: answers may fail with 'too many clients'"
        )


def new_bench(stack: ExitStack, seconds: int) -> Bench:
    """Settings of the run, a scratch database seeded, a scratch directory."""
    defaults = Settings(_env_file=None, environment="production", jwt_secret_key="x" * 32)
    rounds = defaults.bcrypt_rounds
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
    database_url = stack.enter_context(seed.scratch_database(server_url()))
    check_connections(defaults, seed.libpq_dsn(database_url))
    password_hash = bcrypt.hashpw(seed.PASSWORD.encode(), bcrypt.gensalt(rounds)).decode()
    seed.seed_postgres(database_url, password_hash)
    return Bench(
        wrk=Wrk(tmp),
        report=Report(),
        seconds=seconds,
        tmp=tmp,
        database_url=database_url,
        secret=secrets.token_urlsafe(48),
        rounds=rounds,
        slots=WORKERS * defaults.password_hash_concurrency,
        password_hash=password_hash,
    )


def main() -> int:
    if shutil.which("wrk") is None:
        warn("wrk is missing: install it (Debian: apt-get install wrk; macOS: brew install wrk)")
        return 2
    letters = chosen_letters()
    if letters is None:
        return 2
    seconds = chosen_seconds()
    if seconds is None:
        return 2
    if "j" in letters and haproxy_path() is None:
        warn("haproxy is missing for (j): install it (Debian: apt-get install haproxy)")
        return 2
    print(
        f"bench: {os.cpu_count()} CPUs, {WORKERS} workers per app, {seconds} s per run "
        f"after a 2 s warm-up, scenarios {letters}",
        flush=True,
    )
    with ExitStack() as stack:
        bench = new_bench(stack, seconds)
        scenarios.run(bench, letters)
        bench.complaints()
    print(bench.report.summary())
    return bench.report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
