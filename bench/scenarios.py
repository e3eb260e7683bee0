"""The scenarios, one function each; bench/README.md says what each one means.

Each takes its figures with wrk and adds them to the report with their ratio and
target. `run` runs the chosen ones one pair of servers at a time: the PostgreSQL
pair's scenarios, (e) last among them (it grows the users table to 1,000,000) and
then (h)'s last memory reading; then (j)'s replicas behind HAProxy; then SQLite's;
then (i) and (k) on servers of their own.
"""

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace

import bcrypt

from bench import files, seed
from bench.context import (
    API,
    SERVICE,
    Bench,
    Pair,
    api_token,
    postgres_pair,
    sign_in,
    sqlite_pair,
)
from bench.proxy import proxied
from bench.report import Note, Problem, Ratio, Run
from bench.wrk import Load, WrkResult

ME = f"{API}/users/me"
ITEMS = f"{API}/items"
ITEMS_PAGE = f"{API}/items?limit=20"
USERS_PAGE = f"{API}/users?limit=20"
LOGIN = f"{API}/auth/login"
ITEM_BODY = json.dumps({"title": "Bench item", "description": "Written by the benchmark"})
LOGIN_TIMEOUT_SECONDS = 10
LARGE_USERS = 1_000_000
AUDIT_ACCOUNTS = 64
LOCKED = "database is locked"
ON_POSTGRES = "abcdtg"
ON_SQLITE = "fg"
ALL = "abcdefghijkt"


def per(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def login_load(base: str, emails: list[str]) -> Load:
    """Right-password sign-ins (rotating through `emails`), 16 connections."""
    bodies = tuple(json.dumps({"email": email, "password": seed.PASSWORD}) for email in emails)
    return Load(
        base + LOGIN, 16, bodies=bodies, count_statuses=True, timeout_seconds=LOGIN_TIMEOUT_SECONDS
    )


def sign_ins_note(result: WrkResult) -> Note:
    """What a login flood was answered: completed sign-ins apart from refusals."""
    ok = sum(n for status, n in result.statuses.items() if 200 <= status < 300)
    refused = {status: n for status, n in result.statuses.items() if not 200 <= status < 300}
    other = sum(n for status, n in refused.items() if status not in (429, 503))
    return Note(
        f"sign-ins {ok:,} ({result.rate_of(200, 299):.1f}/s); 429: {refused.get(429, 0)}; "
        f"503: {refused.get(503, 0)} ({result.retry_after_503} with Retry-After); "
        f"other non-2xx: {other}"
    )


def against_limit(
    bench: Bench, pair: Pair, label: str, load: Load, target: float
) -> tuple[WrkResult, WrkResult]:
    """The same load on the service and on the limit app; their ratio."""
    service = bench.measure(pair.service, replace(load, url=pair.service.base + load.url))
    limit = bench.measure(pair.limit, replace(load, url=pair.limit.base + load.url))
    ratio = per(service.requests_per_second, limit.requests_per_second)
    bench.report.add(
        Run(label, "service", service), Run("", "limit", limit), Ratio(ratio, "x limit app", target)
    )
    return service, limit


def scenario_a(bench: Bench, pair: Pair, letter: str = "a", where: str = "PostgreSQL") -> None:
    """GET /users/me with a JWT, 64 connections (also (f) on SQLite)."""
    load = Load(ME, 64, token=pair.tokens[seed.READER])
    label = f"({letter}) GET /users/me, JWT, 64 conn, {where}"
    bench.figures[letter] = against_limit(bench, pair, label, load, 0.35)[0]


def scenario_b(bench: Bench, pair: Pair, letter: str = "b", where: str = "PostgreSQL") -> None:
    """GET /items?limit=20 (the reader's 1,000 items), 64 connections (also (f))."""
    load = Load(ITEMS_PAGE, 64, token=pair.tokens[seed.READER])
    against_limit(bench, pair, f"({letter}) GET /items?limit=20, 64 conn, {where}", load, 0.35)


def scenario_c(bench: Bench, pair: Pair) -> None:
    """Right-password sign-ins of one account, 16 connections, against the ceiling."""
    ceiling = bench.ceiling()
    result = bench.measure(pair.service, login_load(pair.service.base, seed.LOGINS))
    ratio = per(result.rate_of(200, 299), ceiling)
    bench.report.add(
        Run("(c) POST /auth/login, 16 conn", "service", result),
        sign_ins_note(result),
        Ratio(ratio, "x login ceiling", 0.9),
    )


def scenario_d(bench: Bench, pair: Pair) -> None:
    """(a) during a login flood, and the flood's own figures during it (d')."""
    ceiling, alone = bench.ceiling(), bench.figures["a"]
    flood = bench.wrk.start(login_load(pair.service.base, seed.LOGINS), 1 + bench.seconds)
    me = Load(pair.service.base + ME, 64, token=pair.tokens[seed.READER])
    bench.wrk.warm_up(me, seconds=1)
    during = bench.wrk.measure(me, bench.seconds)
    logins = bench.wrk.finish(flood)
    bench.report.add(
        Run("(d) (a) during a login flood (16 conn)", "service", during),
        Ratio(per(during.requests_per_second, alone.requests_per_second), "x (a)", 0.5),
        Run("(d') the login flood during (d)", "flood", logins),
        sign_ins_note(logins),
        Ratio(per(logins.rate_of(200, 299), ceiling), "x login ceiling", 0.4),
        Ratio(logins.errors.timeout, "requests over 10 s", 0, at_most=True, digits=0),
    )


def scenario_t(bench: Bench, pair: Pair) -> None:
    """GET /users/me with a personal API token (read scope), against (a)'s JWT figure."""
    token = api_token(pair.service.base, pair.tokens[seed.READER], ["read"])
    result = bench.measure(pair.service, Load(pair.service.base + ME, 64, token=token))
    ratio = per(result.requests_per_second, bench.figures["a"].requests_per_second)
    bench.report.add(
        Run("(t) GET /users/me, API token, 64 conn, PG", "service", result),
        Ratio(ratio, "x (a) with a JWT", 0.9),
    )


def writes(bench: Bench, pair: Pair, where: str) -> None:
    """(g) on `pair`: POST /items as the writer, 32 connections."""
    load = Load(ITEMS, 32, token=pair.tokens[seed.WRITER], bodies=(ITEM_BODY,))
    against_limit(bench, pair, f"(g) POST /items, 32 conn, {where}", load, 0.3)


def scenario_g_sqlite(bench: Bench, pair: Pair) -> None:
    """(g) on SQLite, where no write may ever meet "database is locked"."""
    writes(bench, pair, "SQLite")
    for server in (pair.service, pair.limit):
        locked = server.output().count(LOCKED)
        line = Problem if locked else Note
        bench.report.add(line(f'"{LOCKED}" {locked} times in the log of the {server.name}'))


def scenario_f(bench: Bench, pair: Pair) -> None:
    """(a) and (b) on the embedded SQLite database."""
    scenario_a(bench, pair, "f", "SQLite")
    scenario_b(bench, pair, "f", "SQLite")


def scenario_e(bench: Bench, pair: Pair) -> None:
    """GET /users?limit=20 as admin, p50 at 1,000 users and at 1,000,000."""
    load = Load(pair.service.base + USERS_PAGE, 64, token=pair.tokens[seed.ADMIN])
    small_count = seed.count_rows(bench.dsn, "users")
    small = bench.measure(pair.service, load)
    started = time.monotonic()
    seed.fill_users_to(bench.dsn, LARGE_USERS, bench.password_hash)
    filled = time.monotonic() - started
    large_count = seed.count_rows(bench.dsn, "users")
    large = bench.measure(pair.service, load)
    bench.report.add(
        Run(f"(e) GET /users?limit=20, {small_count:,} users", "service", small),
        Note(f"{large_count - small_count:,} fillers inserted and VACUUM ANALYZE: {filled:.0f} s"),
        Run(f"(e) GET /users?limit=20, {large_count:,} users", "service", large),
        Ratio(per(large.p50_ms, small.p50_ms), "x p50", 2, at_most=True),
    )


def scenario_h(bench: Bench, pair: Pair) -> None:
    """The service's workers' memory: idle, after the first warm-up, after the run."""
    memory = bench.memory
    memory.after = pair.service.worker_rss_kib()
    if not (memory.idle.keys() == memory.warm.keys() == memory.after.keys()):
        changed = f"worker processes changed: {memory.idle} -> {memory.after}"
        bench.report.add(Problem(changed, "(h) memory"))
        return
    bench.report.add(Note("VmRSS of each worker of the PostgreSQL service, MiB", "(h) memory"))
    for pid, after in memory.after.items():
        idle, warm = memory.idle[pid] / 1024, memory.warm[pid] / 1024
        ratio = per(after, memory.warm[pid])
        bench.report.add(
            Note(
                f"worker {pid}: idle {idle:.1f}, after warm-up {warm:.1f}, after the run "
                f"{after / 1024:.1f}"
            ),
            Ratio(ratio, f"x after warm-up (worker {pid})", 1.2, at_most=True),
        )


def scenario_j(bench: Bench) -> None:
    """GET /items?limit=20 through HAProxy: three replicas of the service against one."""
    env = bench.service_env(bench.database_url)
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(bench.serve_service(f"replica {n}", env)) for n in (1, 2, 3)
        ]
        token = sign_in(replicas[0].base, seed.READER)
        results = []
        for count in (1, 3):
            with proxied(replicas[:count], bench.tmp) as base:
                load = Load(base + ITEMS_PAGE, 64, token=token)
                results.append(bench.measure(replicas[0], load))
    one, three = results
    bench.report.add(
        Run("(j) GET /items?limit=20 via HAProxy, 64 conn, PG", "1 replica", one),
        Run("", "3 replicas", three),
        Ratio(per(three.requests_per_second, one.requests_per_second), "x one replica", 0.8),
    )


def login_rate(bench: Bench, name: str, app: str, emails: list[str]) -> WrkResult:
    """Sign-ins at bcrypt cost 4 against `app` served on its own."""
    env = bench.service_env(bench.database_url, BCRYPT_ROUNDS="4")
    with bench.serve_service(name, env, app) as server:
        return bench.measure(server, login_load(server.base, emails))


def scenario_i(bench: Bench) -> None:
    """Sign-ins at bcrypt cost 4 with the audit log as shipped and with it disabled."""
    emails = [f"signin-{n}@bench.example" for n in range(AUDIT_ACCOUNTS)]
    cheap_hash = bcrypt.hashpw(seed.PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    users = seed.user_rows(len(emails), cheap_hash, emails=emails)
    seed.insert_pg(bench.dsn, "users", seed.USER_COLUMNS, users)
    counts = [seed.count_rows(bench.dsn, "audit_events")]
    shipped = login_rate(bench, "service cost 4", SERVICE, emails)
    counts.append(seed.count_rows(bench.dsn, "audit_events"))
    disabled = login_rate(bench, "service cost 4 no audit", "bench.no_audit_app:create_app", emails)
    counts.append(seed.count_rows(bench.dsn, "audit_events"))
    written = [counts[1] - counts[0], counts[2] - counts[1]]
    bench.report.add(
        Run("(i) POST /auth/login, cost 4, 16 conn, PG", "audit", shipped),
        sign_ins_note(shipped),
        Run("", "no audit", disabled),
        sign_ins_note(disabled),
        Note(f"audit events written: {written[0]:,} with the log, {written[1]:,} without"),
        *([Problem("audit events written with audit writes disabled")] if written[1] else []),
        Ratio(per(shipped.rate_of(200, 299), disabled.rate_of(200, 299)), "x without audit", 0.8),
    )


PAIR_SCENARIOS: dict[str, Callable[[Bench, Pair], None]] = {
    "a": scenario_a,
    "b": scenario_b,
    "c": scenario_c,
    "d": scenario_d,
    "t": scenario_t,
    "g": lambda bench, pair: writes(bench, pair, "PostgreSQL"),
}
SQLITE_SCENARIOS: dict[str, Callable[[Bench, Pair], None]] = {
    "f": scenario_f,
    "g": scenario_g_sqlite,
}


def plan(letters: str) -> str:
    """The scenarios to run: (d) and (t) need (a), and so does (h) with nothing else
    on the PostgreSQL service."""
    needs_a = "d" in letters or "t" in letters
    needs_a |= "h" in letters and not any(letter in letters for letter in ON_POSTGRES + "e")
    return "".join(letter for letter in ALL if letter in letters or (letter == "a" and needs_a))


def run_postgres(bench: Bench, letters: str) -> None:
    """The scenarios on the PostgreSQL pair; (h) watches its service's workers."""
    with postgres_pair(bench) as pair:
        bench.watched = pair.service
        bench.memory.idle = pair.idle_rss
        for letter, scenario in PAIR_SCENARIOS.items():
            if letter in letters:
                scenario(bench, pair)
        if "e" in letters:
            scenario_e(bench, pair)
        if "h" in letters:
            scenario_h(bench, pair)


def run_sqlite(bench: Bench, letters: str) -> None:
    with sqlite_pair(bench) as pair:
        for letter, scenario in SQLITE_SCENARIOS.items():
            if letter in letters:
                scenario(bench, pair)


def run(bench: Bench, letters: str) -> None:
    """Run the scenarios named by `letters` (already planned), one pair of servers at a
    time, so that only one service holds database connections."""
    if any(letter in letters for letter in ON_POSTGRES + "eh"):
        run_postgres(bench, letters)
    if "j" in letters:
        scenario_j(bench)
    if any(letter in letters for letter in ON_SQLITE):
        run_sqlite(bench, letters)
    if "i" in letters:
        scenario_i(bench)
    if "k" in letters:
        files.scenario_k(bench)
