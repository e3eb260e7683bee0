"""Attempt budgets kept in the database, so every instance and process agrees.

A budget allows `limit` failures per key (`email:<address>`, `ip:<network>`, ...) in a
window that starts at the first attempt. A password check is *reserved* before bcrypt
runs: one conditional upsert per key counts it as in flight only while failures and
checks in flight stay under the limit. Otherwise the attempt is refused with 429 and
a `Retry-After` that is the true wait: to the end of the window when the failures
have used the budget, or until the checks in flight have expired when they hold the
rest of it. So however many requests arrive at once, on any number of instances, no
more than `limit` wrong passwords are ever checked per key and window. A check then
settles its reservation: a failure counts, a success does not. Reservations expire
RESERVATION_SECONDS after the latest one, so the checks of a process that crashed
mid-way hold a budget for seconds, never for the rest of the window.

Other budgets (reset mails) are simply spent with `spend`. Functions here flush; the
caller commits (or, on refusal, rolls back).
"""

import hashlib
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select, update

from app.core import metrics
from app.core.config import Settings
from app.core.errors import AppError, too_many_attempts
from app.models import LoginThrottle
from app.models.fields import UTCDateTime

MAX_KEY_LENGTH = 300  # the column's size; keys built here are shorter, or hashed
# Longer than a check holds its reservation (one bcrypt run and two short statements).
RESERVATION_SECONDS = 15


@dataclass(frozen=True, slots=True)
class Budget:
    """`limit` failures per key in `window`."""

    prefix: str
    limit: int
    window: timedelta

    def key(self, value: str) -> str:
        """The counter key of `value` (already canonical, e.g. a lower-cased email)."""
        key = f"{self.prefix}:{value}"
        if len(key) > MAX_KEY_LENGTH:  # never for valid emails and addresses; bounded anyway
            key = f"{self.prefix}:sha256:{hashlib.sha256(value.encode()).hexdigest()}"
        return key


Keys = Sequence[tuple[Budget, str]]
Reservation = dict[str, datetime]  # key -> the start of the window it was counted in


def client_network(ip_address: str | None) -> str:
    """The canonical form of a client address for counting: an IPv4 address, or the
    /64 network of an IPv6 one (what one subscriber gets); anything that is not an
    address shares one bucket, so made-up values cannot mint fresh budgets."""
    try:
        address = ipaddress.ip_address((ip_address or "").strip().strip("[]"))
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _pair(budgets: tuple[Budget, Budget], email: str, ip_address: str | None) -> Keys:
    per_email, per_ip = budgets
    return [
        (per_email, per_email.key(email.lower())),
        (per_ip, per_ip.key(client_network(ip_address))),
    ]


def _sign_in_budgets(settings: Settings, account: str) -> tuple[Budget, Budget]:
    """The failed sign-in budgets: per account (named `account`) and per client address."""
    window = timedelta(minutes=settings.login_throttle_window_minutes)
    return (
        Budget(account, settings.login_max_failures_per_email, window),
        Budget("ip", settings.login_max_failures_per_ip, window),
    )


def sign_in_keys(settings: Settings, *, email: str, ip_address: str | None) -> Keys:
    """The budgets a password check for the account `email` counts against: failed
    sign-ins per account and per client address."""
    return _pair(_sign_in_budgets(settings, "email"), email, ip_address)


def client_keys(settings: Settings, *, ip_address: str | None) -> Keys:
    """The budget a sign-in without a password (a provider's sign-in code) counts
    against: failed sign-ins per client address, shared with passwords."""
    window = timedelta(minutes=settings.login_throttle_window_minutes)
    budget = Budget("ip", settings.login_max_failures_per_ip, window)
    return [(budget, budget.key(client_network(ip_address)))]


def two_factor_keys(settings: Settings, *, user_id: str, ip_address: str | None) -> Keys:
    """The budgets a two-factor code check counts against: wrong codes per account
    (as many as wrong passwords per email) and, with wrong passwords, per client
    address."""
    return _pair(_sign_in_budgets(settings, "2fa"), user_id, ip_address)


def reset_mail_keys(settings: Settings, *, email: str, ip_address: str | None) -> Keys:
    """The budgets a password reset mail counts against."""
    window = timedelta(minutes=settings.password_reset_window_minutes)
    budgets = (
        Budget("reset-email", settings.password_reset_max_per_email, window),
        Budget("reset-ip", settings.password_reset_max_per_ip, window),
    )
    return _pair(budgets, email, ip_address)


def _upsert(db: Session, row: dict[str, Any]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of `row` that can say what to do when its key is taken."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(LoginThrottle).values(**row)


def _live(budget: Budget, now: datetime) -> tuple[sa.ColumnElement[int], sa.ColumnElement[int]]:
    """A key's failures in its current window and its checks in flight, as SQL: none
    once the window has passed, and no checks in flight once their reservations have
    expired."""
    expired = col(LoginThrottle.window_started_at) <= now - budget.window
    failures = sa.case((expired, 0), else_=col(LoginThrottle.failures))
    stale = expired | (col(LoginThrottle.in_flight_until) <= now)
    in_flight = sa.case((stale, 0), else_=col(LoginThrottle.in_flight))
    return failures, in_flight


def _counting(
    db: Session, budget: Budget, key: str, now: datetime, *, failures: int, checks: int
) -> tuple[postgresql.Insert | sqlite.Insert, dict[str, Any]]:
    """An upsert that adds `failures` and `checks` in flight to `key`'s counts, and
    what it sets when the key exists: the counts of the current window (a new one once
    the last has passed), with checks in flight reserved for RESERVATION_SECONDS."""
    live_failures, live_checks = _live(budget, now)
    started = col(LoginThrottle.window_started_at)
    until = now + timedelta(seconds=RESERVATION_SECONDS) if checks else now
    row = {
        "key": key,
        "failures": failures,
        "in_flight": checks,
        "window_started_at": now,
        "in_flight_until": until,
    }
    changes: dict[str, Any] = {
        "failures": live_failures + failures,
        "in_flight": live_checks + checks,
        "window_started_at": sa.case(
            (started <= now - budget.window, sa.literal(now, UTCDateTime)), else_=started
        ),
    }
    if checks:
        changes["in_flight_until"] = sa.literal(until, UTCDateTime)
    return _upsert(db, row), changes


def _reserve_one(db: Session, budget: Budget, key: str, now: datetime) -> datetime | None:
    """Count one more check in flight for `key` if its budget has room; returns the
    start of its window, or None when it has none."""
    failures, in_flight = _live(budget, now)
    upsert, changes = _counting(db, budget, key, now, failures=0, checks=1)
    statement = upsert.on_conflict_do_update(
        index_elements=["key"], set_=changes, where=failures + in_flight < budget.limit
    ).returning(col(LoginThrottle.window_started_at))
    return db.execute(statement).scalar_one_or_none()


def _refusal(db: Session, budget: Budget, key: str, now: datetime) -> AppError:
    """429 with the true wait for a key whose budget has no room."""
    failures, _in_flight = _live(budget, now)
    row = db.execute(
        select(
            failures, col(LoginThrottle.window_started_at), col(LoginThrottle.in_flight_until)
        ).where(col(LoginThrottle.key) == key)
    ).one()
    used_up, window_started_at, in_flight_until = row
    free_at = window_started_at + budget.window if used_up >= budget.limit else in_flight_until
    metrics.count_throttle_refusal(_kind(key))
    return too_many_attempts(max(1, math.ceil((free_at - now).total_seconds())))


def reserve(db: Session, keys: Keys, *, now: datetime) -> Reservation:
    """Count a password check as in flight against every key, or raise 429
    (`AppError`) when a key's budget has no room; the caller then rolls back, so a
    refused attempt counts nothing."""
    reservation: Reservation = {}
    for budget, key in keys:
        window_started_at = _reserve_one(db, budget, key, now)
        if window_started_at is None:
            raise _refusal(db, budget, key, now)
        reservation[key] = window_started_at
    return reservation


def settle(db: Session, reservation: Reservation, *, failed: bool) -> None:
    """The reserved check is over: it no longer counts as in flight, and counts as a
    failure if `failed`. A reservation whose window has passed meanwhile is dropped."""
    for key, window_started_at in reservation.items():
        this_window = (
            col(LoginThrottle.key) == key,
            col(LoginThrottle.window_started_at) == window_started_at,
        )
        db.exec(
            update(LoginThrottle)
            .where(*this_window)
            .values(
                in_flight=sa.case(
                    (col(LoginThrottle.in_flight) > 0, col(LoginThrottle.in_flight) - 1), else_=0
                ),
                failures=col(LoginThrottle.failures) + int(failed),
            )
        )
        db.exec(
            delete(LoginThrottle).where(
                *this_window,
                col(LoginThrottle.failures) == 0,
                col(LoginThrottle.in_flight) == 0,
            )
        )


def spend(db: Session, keys: Keys, *, now: datetime) -> None:
    """Use one attempt of every key (a mail sent), or raise 429 (`AppError`) when a
    key has none left; the caller then rolls back."""
    for budget, key in keys:
        upsert, changes = _counting(db, budget, key, now, failures=1, checks=0)
        statement = upsert.on_conflict_do_update(index_elements=["key"], set_=changes).returning(
            col(LoginThrottle.failures), col(LoginThrottle.window_started_at)
        )
        used, window_started_at = db.execute(statement).one()
        if used > budget.limit:
            wait = window_started_at + budget.window - now
            metrics.count_throttle_refusal(_kind(key))
            raise too_many_attempts(max(1, math.ceil(wait.total_seconds())))


def _kind(key: str) -> str:
    """What a key counts (`email`, `ip`, ...): its prefix, a label of few values."""
    return key.partition(":")[0]


def purge_expired(db: Session, *, settings: Settings, now: datetime) -> int:
    """Delete counters whose window has passed (the longest window); returns how many."""
    longest = max(
        timedelta(minutes=settings.login_throttle_window_minutes),
        timedelta(minutes=settings.password_reset_window_minutes),
    )
    result = db.exec(
        delete(LoginThrottle).where(col(LoginThrottle.window_started_at) <= now - longest)
    )
    return result.rowcount
