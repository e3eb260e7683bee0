"""Refresh-token rotation: each refresh replaces the session's refresh token; a
replaced (spent) token presented again means it was copied, and the session is
revoked, except within REFRESH_GRACE_SECONDS of its swap, when the same successor is
issued again (tabs refreshing at once). Functions here flush; the caller commits.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, select, update

from app.core.config import Settings
from app.core.tokens import (
    InvalidTokenError,
    SessionClaims,
    decode_session_token,
    hash_token,
    successor_token_id,
)
from app.models import AuthSession, User
from app.models.fields import utcnow
from app.models.payloads import TokenPair
from app.services import audit, sessions
from app.services.audit import AuditAction, Outcome


def _revoke_on_reuse(
    db: Session, claims: SessionClaims, this_session: Sequence[ColumnElement[bool]], now: datetime
) -> None:
    """A refresh token that did not rotate: revoke its session; a live session's spent
    token means it was copied (or stolen), which the audit log records."""
    revoked = db.exec(update(AuthSession).where(*this_session).values(revoked_at=now))
    if revoked.rowcount:
        audit.record(
            db,
            AuditAction.REFRESH_REUSED,
            outcome=Outcome.DENIED,
            target_type="session",
            target_id=claims.session_id,
            changes={"user": str(claims.user_id)},
        )


def rotate_session(db: Session, *, settings: Settings, refresh_token: str) -> TokenPair | None:
    """Exchange a refresh token for a new pair; the presented token is spent.

    The swap is one conditional UPDATE, so two concurrent uses of one token cannot
    both succeed. The token spent by the session's last swap, presented again within
    REFRESH_GRACE_SECONDS, gets that swap's successor again (tabs refreshing at
    once); any other spent token revokes its session (the caller commits that).
    `None` when no pair is issued.
    """
    try:
        claims = decode_session_token(settings, refresh_token, "refresh")
    except InvalidTokenError:
        return None
    now = utcnow()
    spent_hash = hash_token(refresh_token)
    expires_at = now + timedelta(days=settings.refresh_token_expire_days)
    pair, new_hash = sessions.issue_tokens(
        settings,
        user_id=claims.user_id,
        session_id=claims.session_id,
        session_expires_at=expires_at,
        now=now,
        refresh_id=successor_token_id(settings, spent_hash),
    )
    this_session = (
        col(AuthSession.id) == claims.session_id,
        col(AuthSession.user_id) == claims.user_id,
        col(AuthSession.revoked_at).is_(None),
    )
    if _swapped(db, claims, this_session, spent_hash, new_hash, expires_at, now):
        return pair
    again = _reissued(db, settings, claims, spent_hash, now)
    if again is None:
        _revoke_on_reuse(db, claims, this_session, now)
    return again


def _swapped(
    db: Session,
    claims: SessionClaims,
    this_session: Sequence[ColumnElement[bool]],
    spent_hash: str,
    new_hash: str,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """Whether the live session of an active user still held `spent_hash` and now
    holds `new_hash` (one conditional UPDATE)."""
    active_user = select(User.id).where(User.id == claims.user_id, col(User.is_active).is_(True))
    swapped = db.exec(
        update(AuthSession)
        .where(
            *this_session,
            col(AuthSession.refresh_token_hash) == spent_hash,
            col(AuthSession.expires_at) > now,
            col(AuthSession.user_id).in_(active_user),
        )
        .values(
            refresh_token_hash=new_hash,
            previous_refresh_token_hash=spent_hash,
            rotated_at=now,
            last_used_at=now,
            expires_at=expires_at,
        )
    )
    return swapped.rowcount == 1


def _reissued(
    db: Session, settings: Settings, claims: SessionClaims, spent_hash: str, now: datetime
) -> TokenPair | None:
    """The pair of the live session's last swap, issued again, when that swap spent
    `spent_hash` less than REFRESH_GRACE_SECONDS ago; else `None`."""
    if settings.refresh_grace_seconds == 0:
        return None
    row = db.exec(
        select(AuthSession)
        .join(User, col(AuthSession.user_id) == col(User.id))
        .where(
            col(AuthSession.id) == claims.session_id,
            col(AuthSession.user_id) == claims.user_id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > now,
            col(AuthSession.previous_refresh_token_hash) == spent_hash,
            col(AuthSession.rotated_at) > now - timedelta(seconds=settings.refresh_grace_seconds),
            col(User.is_active).is_(True),
        )
    ).first()
    if row is None or row.rotated_at is None:
        return None
    pair, successor_hash = sessions.issue_tokens(
        settings,
        user_id=claims.user_id,
        session_id=claims.session_id,
        session_expires_at=row.expires_at,
        now=now,
        refresh_issued_at=row.rotated_at,
        refresh_id=successor_token_id(settings, spent_hash),
    )
    # Different only if the signing key changed since: then it is no successor.
    return pair if successor_hash == row.refresh_token_hash else None
