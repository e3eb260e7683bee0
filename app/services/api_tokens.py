"""Personal API tokens: long-lived credentials for scripts, kept only as SHA-256 hashes.

A token is `sqa_pat_` + 256 random bits in base62 (43 characters) + a 6-character
checksum: secret scanners recognise the prefix, and a mistyped token fails the
checksum before any database work. A token acts as its owner, within its scopes and
never beyond the owner's current role; it expires (at most 365 days), and is revoked
by its owner, an admin, or the owner's deactivation, deletion or password reset.
"""

import secrets
import string
import uuid
import zlib
from datetime import datetime, timedelta

from sqlalchemy import BindParameter, bindparam
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, func, select, update

from app.core.errors import AppError, ErrorCode
from app.core.tokens import hash_token
from app.models import (
    ApiToken,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    TokenScope,
    User,
)
from app.models.fields import utcnow
from app.services import audit
from app.services.audit import AuditAction

PREFIX = "sqa_pat_"
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
SECRET_CHARS, CHECK_CHARS = 43, 6  # 62**43 > 2**256
MAX_PER_USER = 20
LAST_USED_EVERY = timedelta(hours=1)


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECK_CHARS)


def generate() -> str:
    """A new token (shown once, then only its hash is kept)."""
    body = _base62(secrets.randbits(256), SECRET_CHARS)
    return PREFIX + body + _checksum(body)


def well_formed(token: str) -> bool:
    """Whether `token` has the shape and checksum of a token (no database work)."""
    body, check = token[len(PREFIX) : -CHECK_CHARS], token[-CHECK_CHARS:]
    return (
        token.startswith(PREFIX)
        and len(token) == len(PREFIX) + SECRET_CHARS + CHECK_CHARS
        and all(char in ALPHABET for char in body + check)
        and secrets.compare_digest(_checksum(body), check)
    )


def _live(now: datetime | BindParameter[datetime]) -> tuple[ColumnElement[bool], ...]:
    return (col(ApiToken.revoked_at).is_(None), col(ApiToken.expires_at) > now)


def create(db: Session, user: User, token_in: ApiTokenCreate) -> ApiTokenCreated:
    """A new token of `user`; `API_TOKEN_LIMIT` past MAX_PER_USER live tokens."""
    now = utcnow()
    # Concurrent creations for one user wait here, then count each other's tokens: a
    # write to the owner's row takes its lock on PostgreSQL, and SQLite's one writer.
    db.exec(update(User).where(col(User.id) == user.id).values(id=User.id))
    live = select(func.count()).where(col(ApiToken.user_id) == user.id, *_live(now))
    if db.exec(live).one() >= MAX_PER_USER:
        raise AppError(ErrorCode.API_TOKEN_LIMIT)
    token = generate()
    row = ApiToken(
        user_id=user.id,
        name=token_in.name,
        token_hash=hash_token(token),
        prefix=token[: len(PREFIX) + 4],
        last4=token[-4:],
        scopes=",".join(sorted(set(token_in.scopes))),
        created_at=now,
        expires_at=now + timedelta(days=token_in.expires_in_days),
    )
    db.add(row)
    audit.record(
        db, AuditAction.API_TOKEN_CREATED, target_type="api_token", target_id=row.id,
        target_label=row.name, changes={"scopes": row.scopes.split(",")},
    )  # fmt: skip
    return ApiTokenCreated.model_validate(row, update={"token": token})


def list_live(db: Session, user: User) -> list[ApiTokenPublic]:
    """`user`'s live tokens, newest first."""
    rows = db.exec(
        select(ApiToken)
        .where(col(ApiToken.user_id) == user.id, *_live(utcnow()))
        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
    ).all()
    return [ApiTokenPublic.model_validate(row) for row in rows]


def revoke(db: Session, user: User, *, token_id: uuid.UUID) -> None:
    """Revoke a live token of `user`; `API_TOKEN_NOT_FOUND` if there is none."""
    result = db.exec(
        update(ApiToken)
        .where(col(ApiToken.id) == token_id, col(ApiToken.user_id) == user.id, *_live(utcnow()))
        .values(revoked_at=utcnow())
    )
    if result.rowcount != 1:
        raise AppError(ErrorCode.API_TOKEN_NOT_FOUND)
    audit.record(db, AuditAction.API_TOKEN_REVOKED, target_type="api_token", target_id=token_id)


def revoke_all(db: Session, user_id: uuid.UUID, *, scope: TokenScope | None = None) -> None:
    """Revoke every token of `user_id` (with `scope`, those that have it)."""
    statement = update(ApiToken).where(
        col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None)
    )
    if scope is not None:
        statement = statement.where(col(ApiToken.scopes).contains(scope.value))
    db.exec(statement.values(revoked_at=utcnow()))


# Built once: only the parameters change from one request to the next.
_SIGNED_IN = (
    select(User, ApiToken)
    .join(ApiToken, col(ApiToken.user_id) == col(User.id))
    .where(col(ApiToken.token_hash) == bindparam("token_hash"), *_live(bindparam("now")))
    .where(col(User.is_active).is_(True))
)


def signed_in(db: Session, token: str) -> tuple[User, ApiToken] | None:
    """The active owner of a live `token`, and the token (one indexed query); marks it
    used, at most once per LAST_USED_EVERY."""
    now = utcnow()
    params = {"token_hash": hash_token(token), "now": now}
    found = db.exec(_SIGNED_IN, params=params).first()
    if found is None:
        return None
    user, row = found
    if row.last_used_at is None or row.last_used_at < now - LAST_USED_EVERY:
        db.exec(update(ApiToken).where(col(ApiToken.id) == row.id).values(last_used_at=now))
    return user, row


def user_tokens(db: Session, *, user_id: uuid.UUID) -> list[ApiTokenPublic]:
    """Any user's live tokens (for an admin)."""
    owner = db.get(User, user_id)
    if owner is None:
        raise AppError(ErrorCode.USER_NOT_FOUND)
    return list_live(db, owner)


def revoke_user_token(db: Session, *, user_id: uuid.UUID, token_id: uuid.UUID) -> None:
    """Revoke any user's token (for an admin)."""
    owner = db.get(User, user_id)
    if owner is None:
        raise AppError(ErrorCode.USER_NOT_FOUND)
    revoke(db, owner, token_id=token_id)
