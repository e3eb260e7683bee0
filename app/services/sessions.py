"""Sign-in sessions: opening, revocation, listing (`rotation` exchanges refresh tokens).

A session row stands for one sign-in on one device. Its refresh token is stored only
as a hash; each refresh replaces it (rotation). Presenting a replaced (spent) refresh
token again means it was copied: the whole session is revoked. Access tokens name
their session (`sid`), so revoking a session stops its access tokens at once.
Functions here flush; the caller commits.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, delete, or_, select, update

from app.core.config import Settings
from app.core.errors import AppError, ErrorCode
from app.core.tokens import (
    SessionClaims,
    create_session_token,
    hash_token,
)
from app.models import AuthSession, SessionPublic, User
from app.models.fields import utcnow
from app.models.payloads import TokenPair
from app.services import audit
from app.services.audit import AuditAction


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Where a sign-in comes from, as its session records it."""

    user_agent: str | None
    ip_address: str | None


# Built once: only the parameters change from one request to the next.
_SIGNED_IN_USER = (
    select(User)
    .join(AuthSession, col(AuthSession.user_id) == col(User.id))
    .where(
        col(AuthSession.id) == bindparam("session_id"),
        col(User.id) == bindparam("user_id"),
        col(AuthSession.revoked_at).is_(None),
        col(AuthSession.expires_at) > bindparam("now"),
        col(User.is_active).is_(True),
    )
)


def signed_in_user(db: Session, claims: SessionClaims) -> User | None:
    """The active user of an access token's session, if that session is live (one
    indexed query)."""
    params = {"session_id": claims.session_id, "user_id": claims.user_id, "now": utcnow()}
    return db.exec(_SIGNED_IN_USER, params=params).first()


def has_second_factor(db: Session, session_id: uuid.UUID) -> bool:
    """Whether session `session_id` was signed in with a second factor, or enrolled one
    since. Asked only of admins with REQUIRE_ADMIN_2FA on (admin routes, live streams),
    so the check of every request reads the user alone."""
    query = select(AuthSession.two_factor).where(col(AuthSession.id) == session_id)
    return db.exec(query).first() is True


def issue_tokens(
    settings: Settings,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    session_expires_at: datetime,
    now: datetime,
    refresh_issued_at: datetime | None = None,
    refresh_id: str | None = None,
) -> tuple[TokenPair, str]:
    """A new token pair for a session, and the hash of its refresh token (issued at
    `refresh_issued_at`, default now, with the `jti` `refresh_id`, default random)."""
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    access = create_session_token(
        settings,
        "access",
        user_id=user_id,
        session_id=session_id,
        issued_at=now,
        expires_at=min(now + lifetime, session_expires_at),
    )
    refresh = create_session_token(
        settings,
        "refresh",
        user_id=user_id,
        session_id=session_id,
        issued_at=refresh_issued_at or now,
        expires_at=session_expires_at,
        token_id=refresh_id,
    )
    pair = TokenPair(
        access_token=access, refresh_token=refresh, expires_in=int(lifetime.total_seconds())
    )
    return pair, hash_token(refresh)


def open_session(
    db: Session, user: User, *, settings: Settings, client: ClientInfo, two_factor: bool = False
) -> tuple[TokenPair, uuid.UUID]:
    """Start a session for `user` (`two_factor`: signed in with a second factor);
    returns its first token pair and its id.

    The user's expired and revoked sessions are deleted on the way, so the table
    stays as small as the number of live sessions.
    """
    now = utcnow()
    db.exec(
        delete(AuthSession).where(
            col(AuthSession.user_id) == user.id,
            or_(col(AuthSession.expires_at) <= now, col(AuthSession.revoked_at).is_not(None)),
        )
    )
    row = AuthSession(
        user_id=user.id,
        refresh_token_hash="",
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_expire_days),
        user_agent=client.user_agent,
        ip_address=client.ip_address[:45] if client.ip_address else None,
        two_factor=two_factor,
    )
    pair, row.refresh_token_hash = issue_tokens(
        settings, user_id=user.id, session_id=row.id, session_expires_at=row.expires_at, now=now
    )
    db.add(row)
    return pair, row.id


def _live(user_id: uuid.UUID, now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        col(AuthSession.user_id) == user_id,
        col(AuthSession.revoked_at).is_(None),
        col(AuthSession.expires_at) > now,
    )


def revoke_session(db: Session, user: User, *, session_id: uuid.UUID) -> None:
    """Revoke one live session of `user`; `SESSION_NOT_FOUND` if there is none."""
    now = utcnow()
    result = db.exec(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, *_live(user.id, now))
        .values(revoked_at=now)
    )
    if result.rowcount != 1:
        raise AppError(ErrorCode.SESSION_NOT_FOUND)
    audit.record(
        db,
        AuditAction.SESSION_REVOKED,
        target_type="session",
        target_id=session_id,
        target_label=user.email,  # whose session it was
    )


def end_session(db: Session, user: User, *, session_id: uuid.UUID) -> None:
    """Sign out: revoke the caller's own session (already revoked is fine)."""
    db.exec(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.user_id) == user.id)
        .values(revoked_at=utcnow())
    )
    audit.record(db, AuditAction.LOGOUT, target=user)


def end_all_sessions(db: Session, user: User) -> None:
    """Sign out everywhere: revoke every session of `user`."""
    revoke_user_sessions(db, user.id)
    audit.record(db, AuditAction.LOGOUT, reason="everywhere", target=user)


def revoke_user_sessions(db: Session, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> None:
    """Revoke every session of `user_id` except `keep`."""
    statement = update(AuthSession).where(
        col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None)
    )
    if keep is not None:
        statement = statement.where(col(AuthSession.id) != keep)
    db.exec(statement.values(revoked_at=utcnow()))


def live_sessions(db: Session, user: User, *, current: uuid.UUID) -> list[SessionPublic]:
    """`user`'s live sessions, newest first; `current` marks the caller's own."""
    rows = db.exec(
        select(AuthSession)
        .where(*_live(user.id, utcnow()))
        .order_by(col(AuthSession.created_at).desc(), col(AuthSession.id).desc())
    ).all()
    return [
        SessionPublic.model_validate(row, update={"current": row.id == current}) for row in rows
    ]


def purge_dead_sessions(db: Session, *, now: datetime) -> int:
    """Delete every expired or revoked session; returns how many."""
    result = db.exec(
        delete(AuthSession).where(
            or_(col(AuthSession.expires_at) <= now, col(AuthSession.revoked_at).is_not(None))
        )
    )
    return result.rowcount
