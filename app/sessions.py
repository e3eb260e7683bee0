"""Sign-in sessions: opening, refresh-token rotation with reuse detection, revocation.

A session row stands for one sign-in on one device. Its refresh token is stored only
as a hash; each refresh replaces it (rotation). Presenting a replaced (spent) refresh
token again means it was copied: the whole session is revoked. Access tokens name
their session (`sid`), so revoking a session stops its access tokens at once.
"""

import uuid
from datetime import datetime, timedelta

from fastapi import APIRouter, Request, status
from sqlmodel import Session, col, delete, or_, select, update

from app.config import Settings
from app.deps import AccessClaims, CurrentUser, SessionDep
from app.errors import AUTHENTICATED, not_found, responses
from app.models import AuthSession, SessionPublic, TokenPair, User, utcnow
from app.security import (
    InvalidTokenError,
    create_session_token,
    decode_session_token,
    hash_token,
)


def _issue_tokens(
    settings: Settings,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    session_expires_at: datetime,
    now: datetime,
) -> tuple[TokenPair, str]:
    """A new token pair for a session, and the hash of its refresh token."""
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    access = create_session_token(
        settings,
        "access",
        user_id=user_id,
        session_id=session_id,
        expires_at=min(now + lifetime, session_expires_at),
    )
    refresh = create_session_token(
        settings,
        "refresh",
        user_id=user_id,
        session_id=session_id,
        expires_at=session_expires_at,
    )
    pair = TokenPair(
        access_token=access, refresh_token=refresh, expires_in=int(lifetime.total_seconds())
    )
    return pair, hash_token(refresh)


def client_details(request: Request) -> tuple[str | None, str | None]:
    """The user agent and client address of a request, as sessions record them."""
    user_agent = request.headers.get("user-agent")
    ip_address = request.client.host if request.client else None
    return (user_agent[:255] if user_agent else None), ip_address


def open_session(
    session: Session,
    settings: Settings,
    *,
    user: User,
    user_agent: str | None,
    ip_address: str | None,
) -> TokenPair:
    """Start a session for `user` and return its first token pair.

    The user's expired and revoked sessions are deleted on the way, so the table
    stays as small as the number of live sessions.
    """
    now = utcnow()
    session.exec(
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
        user_agent=user_agent,
        ip_address=ip_address[:45] if ip_address else None,
    )
    pair, row.refresh_token_hash = _issue_tokens(
        settings, user_id=user.id, session_id=row.id, session_expires_at=row.expires_at, now=now
    )
    session.add(row)
    session.commit()
    return pair


def rotate_session(session: Session, settings: Settings, refresh_token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; the presented token is spent.

    The swap is one conditional UPDATE, so two concurrent uses of one token cannot
    both succeed. A spent token presented again revokes its session. Raises
    `InvalidTokenError` when no new pair is issued.
    """
    claims = decode_session_token(settings, refresh_token, "refresh")
    now = utcnow()
    expires_at = now + timedelta(days=settings.refresh_token_expire_days)
    pair, new_hash = _issue_tokens(
        settings,
        user_id=claims.user_id,
        session_id=claims.session_id,
        session_expires_at=expires_at,
        now=now,
    )
    this_session = (
        col(AuthSession.id) == claims.session_id,
        col(AuthSession.user_id) == claims.user_id,
        col(AuthSession.revoked_at).is_(None),
    )
    active_user = select(User.id).where(User.id == claims.user_id, col(User.is_active).is_(True))
    swapped = session.exec(
        update(AuthSession)
        .where(
            *this_session,
            col(AuthSession.refresh_token_hash) == hash_token(refresh_token),
            col(AuthSession.expires_at) > now,
            col(AuthSession.user_id).in_(active_user),
        )
        .values(refresh_token_hash=new_hash, last_used_at=now, expires_at=expires_at)
    )
    if swapped.rowcount != 1:
        session.exec(update(AuthSession).where(*this_session).values(revoked_at=now))
        session.commit()
        raise InvalidTokenError("refresh token spent, revoked or expired")
    session.commit()
    return pair


def revoke_session(session: Session, *, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    """Revoke one live session of `user_id`; `False` if there is no such session."""
    result = session.exec(
        update(AuthSession)
        .where(
            col(AuthSession.id) == session_id,
            col(AuthSession.user_id) == user_id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > utcnow(),
        )
        .values(revoked_at=utcnow())
    )
    session.commit()
    return result.rowcount == 1


def revoke_user_sessions(
    session: Session, *, user_id: uuid.UUID, keep: uuid.UUID | None = None
) -> None:
    """Revoke every session of `user_id` except `keep`; the caller commits."""
    statement = update(AuthSession).where(
        col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None)
    )
    if keep is not None:
        statement = statement.where(col(AuthSession.id) != keep)
    session.exec(statement.values(revoked_at=utcnow()))


def purge_dead_sessions(session: Session, now: datetime) -> int:
    """Delete every expired or revoked session; returns how many."""
    result = session.exec(
        delete(AuthSession).where(
            or_(col(AuthSession.expires_at) <= now, col(AuthSession.revoked_at).is_not(None))
        )
    )
    session.commit()
    return result.rowcount


router = APIRouter(prefix="/auth/sessions", tags=["sessions"], responses=AUTHENTICATED)


@router.get("", operation_id="sessions-list")
def list_sessions(
    user: CurrentUser, claims: AccessClaims, session: SessionDep
) -> list[SessionPublic]:
    """The caller's live sessions, newest first; `current` marks this one."""
    rows = session.exec(
        select(AuthSession)
        .where(
            col(AuthSession.user_id) == user.id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > utcnow(),
        )
        .order_by(col(AuthSession.created_at).desc(), col(AuthSession.id).desc())
    ).all()
    return [
        SessionPublic.model_validate(row, update={"current": row.id == claims.session_id})
        for row in rows
    ]


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="sessions-revoke",
    responses=responses({404: "No such live session of the caller"}),
)
def delete_session(session_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    """Sign out one of the caller's sessions (for example a lost device)."""
    if not revoke_session(session, user_id=user.id, session_id=session_id):
        raise not_found("Session")
