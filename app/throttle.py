"""Failed sign-in throttling, kept in the database so every instance agrees.

Each key (`email:<address>`, `ip:<address>`) counts its failures in a window that
starts at the first failure. Once a key reaches its limit, sign-ins for it are refused
with 429 until the window has passed, even with the right password.
"""

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from app.config import Settings
from app.models import LoginThrottle, UTCDateTime


def throttle_keys(email: str, ip_address: str | None) -> list[str]:
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


def retry_after(session: Session, settings: Settings, keys: list[str], now: datetime) -> int | None:
    """Seconds until a sign-in may be tried again, or `None` when it may be tried now."""
    rows = session.exec(select(LoginThrottle).where(col(LoginThrottle.key).in_(keys))).all()
    waits = [
        row.window_started_at + _window(settings) - now
        for row in rows
        if row.failures >= _limit(settings, row.key)
        and row.window_started_at + _window(settings) > now
    ]
    if not waits:
        return None
    return max(1, math.ceil(max(waits).total_seconds()))


def record_failure(session: Session, settings: Settings, keys: list[str], now: datetime) -> None:
    """Count one failed sign-in against each key (atomic upsert; safe under concurrency)."""
    started = col(LoginThrottle.window_started_at)
    expired = started <= now - _window(settings)
    dialect = session.get_bind().dialect.name
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
        session.exec(statement)
    session.commit()


def reset(session: Session, key: str) -> None:
    """Forget the failures of `key` (after a successful sign-in)."""
    session.exec(delete(LoginThrottle).where(col(LoginThrottle.key) == key))
    session.commit()


def purge_expired(session: Session, settings: Settings, now: datetime) -> int:
    """Delete counters whose window has passed; returns how many."""
    result = session.exec(
        delete(LoginThrottle).where(col(LoginThrottle.window_started_at) <= now - _window(settings))
    )
    session.commit()
    return result.rowcount
