"""Attempt budgets kept in the database, so every instance and process agrees.

A budget allows `limit` attempts per key (`email:<address>`, `ip:<network>`, ...) in a
window that starts at the first attempt. An attempt is *reserved* before the work it
guards (checking a password, sending a mail): the counters of all its keys go up in
one atomic upsert each, and if any of them passes its limit the whole reservation is
rolled back and the attempt is refused with 429 and `Retry-After`. So however many
requests arrive at once, no more than `limit` of them are ever let through in a
window. A sign-in that turns out right gives its reservation back; a wrong one keeps
it, so failures count until their window ends. Functions here flush; the unit that
calls them commits (or, on 429, rolls back).
"""

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, update

from app.config import Settings
from app.errors import too_many_attempts
from app.fields import UTCDateTime
from app.models import LoginThrottle

MAX_KEY_LENGTH = 300  # the column's size; every key built here is shorter


@dataclass(frozen=True, slots=True)
class Budget:
    """`limit` attempts per key in `window`."""

    prefix: str
    limit: int
    window: timedelta

    def key(self, value: str) -> str:
        """The counter key of `value` (already canonical, e.g. a lower-cased email)."""
        key = f"{self.prefix}:{value}"
        if len(key) > MAX_KEY_LENGTH:  # never for valid emails and addresses; bounded anyway
            key = f"{self.prefix}:sha256:{hashlib.sha256(value.encode()).hexdigest()}"
        return key


Reservation = dict[str, tuple[Budget, datetime]]  # key -> its budget and window start


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


def sign_in_budgets(settings: Settings) -> tuple[Budget, Budget]:
    """Failed sign-ins per account (email) and per client address."""
    window = timedelta(minutes=settings.login_throttle_window_minutes)
    return (
        Budget("email", settings.login_max_failures_per_email, window),
        Budget("ip", settings.login_max_failures_per_ip, window),
    )


def sign_in_keys(
    settings: Settings, *, email: str, ip_address: str | None
) -> list[tuple[Budget, str]]:
    """The budgets and keys a password check by or for `email` counts against."""
    per_email, per_ip = sign_in_budgets(settings)
    return [
        (per_email, per_email.key(email.lower())),
        (per_ip, per_ip.key(client_network(ip_address))),
    ]


def reset_mail_keys(
    settings: Settings, *, email: str, ip_address: str | None
) -> list[tuple[Budget, str]]:
    """The budgets and keys a password reset mail counts against."""
    window = timedelta(minutes=settings.password_reset_window_minutes)
    per_email = Budget("reset-email", settings.password_reset_max_per_email, window)
    per_ip = Budget("reset-ip", settings.password_reset_max_per_ip, window)
    return [
        (per_email, per_email.key(email.lower())),
        (per_ip, per_ip.key(client_network(ip_address))),
    ]


def _upsert(db: Session) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return postgresql.Insert if db.get_bind().dialect.name == "postgresql" else sqlite.Insert


def reserve(db: Session, keys: list[tuple[Budget, str]], *, now: datetime) -> Reservation:
    """Count one attempt against every key, or refuse it all with 429 (`AppError`)
    when any key is past its budget: raising rolls the unit's counts back."""
    reservation: Reservation = {}
    waits = []
    started = col(LoginThrottle.window_started_at)
    for budget, key in keys:
        expired = started <= now - budget.window
        statement = (
            _upsert(db)(LoginThrottle)
            .values(key=key, failures=1, window_started_at=now)
            .on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "failures": sa.case((expired, 1), else_=col(LoginThrottle.failures) + 1),
                    "window_started_at": sa.case(
                        (expired, sa.literal(now, UTCDateTime)), else_=started
                    ),
                },
            )
            .returning(col(LoginThrottle.failures), started)
        )
        count, window_started_at = db.execute(statement).one()
        reservation[key] = (budget, window_started_at)
        if count > budget.limit:
            waits.append(window_started_at + budget.window - now)
    if waits:
        raise too_many_attempts(max(1, math.ceil(max(waits).total_seconds())))
    return reservation


def give_back(db: Session, reservation: Reservation) -> None:
    """Return a reserved attempt (the password was right, or never checked)."""
    for key, (_budget, window_started_at) in reservation.items():
        this_window = (
            col(LoginThrottle.key) == key,
            col(LoginThrottle.window_started_at) == window_started_at,
        )
        db.exec(
            update(LoginThrottle).where(*this_window).values(failures=LoginThrottle.failures - 1)
        )
        db.exec(delete(LoginThrottle).where(*this_window, col(LoginThrottle.failures) <= 0))


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
