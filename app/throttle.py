"""Attempt budgets kept in the database, so every instance and process agrees.

A budget allows `limit` failures per key (`email:<address>`, `ip:<network>`, ...) in a
window that starts at the first attempt. A password check is *reserved* before it
runs: each of its keys counts it as in flight, in one atomic upsert. When a key has
used its budget the reservation is rolled back and the attempt refused with 429 and
`Retry-After`; when the budget is only held by checks still in flight, the attempt
waits for their outcome (`Busy`). So however many requests arrive at once, no more
than `limit` wrong passwords are ever checked per key and window, and right ones
are never refused for being many. A check then settles its reservation: a failure
counts, a success (or a check that never ran) does not.

Other budgets (reset mails) are simply spent with `spend`. Functions here flush; the
unit that calls them commits (or, on refusal, rolls back).
"""

import hashlib
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, update

from app.config import Settings
from app.errors import too_many_attempts
from app.fields import UTCDateTime
from app.models import LoginThrottle

MAX_KEY_LENGTH = 300  # the column's size; keys built here are shorter, or hashed


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


class Busy(Exception):
    """The budget is held by checks still in flight: try again shortly."""


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


def sign_in_keys(settings: Settings, *, email: str, ip_address: str | None) -> Keys:
    """The budgets a password check for the account `email` counts against: failed
    sign-ins per account and per client address."""
    window = timedelta(minutes=settings.login_throttle_window_minutes)
    budgets = (
        Budget("email", settings.login_max_failures_per_email, window),
        Budget("ip", settings.login_max_failures_per_ip, window),
    )
    return _pair(budgets, email, ip_address)


def reset_mail_keys(settings: Settings, *, email: str, ip_address: str | None) -> Keys:
    """The budgets a password reset mail counts against."""
    window = timedelta(minutes=settings.password_reset_window_minutes)
    budgets = (
        Budget("reset-email", settings.password_reset_max_per_email, window),
        Budget("reset-ip", settings.password_reset_max_per_ip, window),
    )
    return _pair(budgets, email, ip_address)


def _count(
    db: Session, budget: Budget, key: str, now: datetime, column: str
) -> tuple[int, int, datetime]:
    """Add one to `column` (`failures` or `in_flight`) of `key`, starting a new window
    when the last one has passed; returns (failures, in flight, window start)."""
    started = col(LoginThrottle.window_started_at)
    expired = started <= now - budget.window
    added = {"failures": int(column == "failures"), "in_flight": int(column == "in_flight")}
    upsert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        upsert(LoginThrottle)
        .values(key=key, window_started_at=now, **added)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": sa.case(
                    (expired, added["failures"]),
                    else_=col(LoginThrottle.failures) + added["failures"],
                ),
                "in_flight": sa.case(
                    (expired, added["in_flight"]),
                    else_=col(LoginThrottle.in_flight) + added["in_flight"],
                ),
                "window_started_at": sa.case(
                    (expired, sa.literal(now, UTCDateTime)), else_=started
                ),
            },
        )
        .returning(col(LoginThrottle.failures), col(LoginThrottle.in_flight), started)
    )
    failures, in_flight, window_started_at = db.execute(statement).one()
    return failures, in_flight, window_started_at


def _refuse(waits: list[timedelta]) -> None:
    if waits:
        raise too_many_attempts(max(1, math.ceil(max(waits).total_seconds())))


def reserve(db: Session, keys: Keys, *, now: datetime) -> Reservation:
    """Count a password check as in flight against every key. Raises 429 (`AppError`)
    when a key has used its budget, and `Busy` when checks in flight hold the rest of
    it; either way the unit rolls back, so a refused attempt counts nothing."""
    reservation: Reservation = {}
    waits, busy = [], False
    for budget, key in keys:
        failures, in_flight, window_started_at = _count(db, budget, key, now, "in_flight")
        reservation[key] = window_started_at
        if failures >= budget.limit:
            waits.append(window_started_at + budget.window - now)
        busy = busy or failures + in_flight > budget.limit
    _refuse(waits)
    if busy:
        raise Busy
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
    key has none left; the unit then rolls back."""
    waits = []
    for budget, key in keys:
        used, _in_flight, window_started_at = _count(db, budget, key, now, "failures")
        if used > budget.limit:
            waits.append(window_started_at + budget.window - now)
    _refuse(waits)


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
