"""Failed sign-in throttling, kept in the database so every instance agrees.

Each key (`email:<address>`, `ip:<address>`) counts its failures in a window that
starts at the first failure. Once a key reaches its limit, sign-ins for it are refused
with 429 until the window has passed, even with the right password. Functions here
flush; the unit that calls them commits.
"""

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from app.config import Settings
from app.fields import UTCDateTime
from app.models import LoginThrottle


def keys_for(email: str, ip_address: str | None) -> list[str]:
    """The keys a sign-in attempt counts against."""
    keys = [f"email:{email}"]
    if ip_address:
        keys.append(f"ip:{ip_address}")
    return keys


def _limit(settings: Settings, key: str) -> int:
    if key.startswith("email:"):
        return settings.login_max_failures_per_email
    return settings.login_max_failures_per_ip


def _window(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.login_throttle_window_minutes)


def retry_after(db: Session, *, settings: Settings, keys: list[str], now: datetime) -> int | None:
    """Seconds until a sign-in may be tried again, or `None` when it may be tried now."""
    rows = db.exec(select(LoginThrottle).where(col(LoginThrottle.key).in_(keys))).all()
    waits = [
        row.window_started_at + _window(settings) - now
        for row in rows
        if row.failures >= _limit(settings, row.key)
        and row.window_started_at + _window(settings) > now
    ]
    if not waits:
        return None
    return max(1, math.ceil(max(waits).total_seconds()))


def record_failure(db: Session, *, settings: Settings, keys: list[str], now: datetime) -> None:
    """Count one failed sign-in against each key (atomic upsert; safe under concurrency)."""
    started = col(LoginThrottle.window_started_at)
    expired = started <= now - _window(settings)
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for key in keys:
        statement = insert(LoginThrottle).values(key=key, failures=1, window_started_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": sa.case((expired, 1), else_=col(LoginThrottle.failures) + 1),
                "window_started_at": sa.case(
                    (expired, sa.literal(now, UTCDateTime)), else_=started
                ),
            },
        )
        db.exec(statement)


def clear(db: Session, *, key: str) -> None:
    """Forget the failures of `key` (after a successful sign-in)."""
    db.exec(delete(LoginThrottle).where(col(LoginThrottle.key) == key))


def purge_expired(db: Session, *, settings: Settings, now: datetime) -> int:
    """Delete counters whose window has passed; returns how many."""
    result = db.exec(
        delete(LoginThrottle).where(col(LoginThrottle.window_started_at) <= now - _window(settings))
    )
    return result.rowcount
