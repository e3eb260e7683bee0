"""Signed tokens (JWT, one purpose each) and the hashes and fingerprints kept of them."""

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt

from app.config import Settings
from app.fields import utcnow

TokenType = Literal["access", "refresh", "reset"]


class InvalidTokenError(Exception):
    """A token that is malformed, expired, forged, or meant for something else."""


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What an access or refresh token says: whose it is and which session it belongs to."""

    user_id: uuid.UUID
    session_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ResetClaims:
    """What a password reset token says: whose it is, and a fingerprint of the account's
    email and password when it was issued (it works only while both are unchanged)."""

    user_id: uuid.UUID
    account_fingerprint: str


def create_token(
    settings: Settings,
    *,
    token_type: TokenType,
    subject: uuid.UUID,
    issued_at: datetime,
    expires_at: datetime,
    claims: dict[str, str],
) -> str:
    """A signed JWT for one purpose (`type`) with `sub`, `iat`, `exp`, `jti` and `claims`.

    `iat` and `exp` come from the caller's one reading of the clock, so a token
    lives exactly as long as the response says.
    """
    payload: dict[str, Any] = {
        **claims,
        "sub": str(subject),
        "type": token_type,
        "iat": issued_at,
        "exp": expires_at,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, settings.secret_key, algorithm=settings.jwt_algorithm)


def _decode(
    settings: Settings, token: str, token_type: TokenType, claim: str
) -> tuple[uuid.UUID, str]:
    """Verify `token` strictly and return its subject and the string claim `claim`.

    The signature must use the one configured algorithm (so `none` and algorithm
    confusion are refused), `exp` must lie ahead, and `type` must be `token_type`.
    """
    try:
        payload = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[settings.jwt_algorithm],
            options={"require": ["sub", "type", "iat", "exp", "jti", claim]},
        )
        if payload["type"] != token_type:
            raise InvalidTokenError(f"not a {token_type} token")
        value = payload[claim]
        if not isinstance(value, str):
            raise InvalidTokenError(f"{claim} is not a string")
        return uuid.UUID(payload["sub"]), value
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidTokenError(str(exc)) from exc


def create_session_token(
    settings: Settings,
    token_type: Literal["access", "refresh"],
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    issued_at: datetime,
    expires_at: datetime,
) -> str:
    """An access or refresh token of one session."""
    return create_token(
        settings,
        token_type=token_type,
        subject=user_id,
        issued_at=issued_at,
        expires_at=expires_at,
        claims={"sid": str(session_id)},
    )


def decode_session_token(
    settings: Settings, token: str, token_type: Literal["access", "refresh"]
) -> SessionClaims:
    """The claims of a valid access or refresh token; raises `InvalidTokenError`."""
    user_id, session_id = _decode(settings, token, token_type, "sid")
    try:
        return SessionClaims(user_id=user_id, session_id=uuid.UUID(session_id))
    except ValueError as exc:
        raise InvalidTokenError(str(exc)) from exc


def account_fingerprint(settings: Settings, *, email: str, password_hash: str) -> str:
    """A keyed fingerprint of an account's email and password hash."""
    return fingerprint(settings, f"{email}\n{password_hash}")


def matches_account(settings: Settings, *, email: str, password_hash: str, expected: str) -> bool:
    """Whether an account's email and password hash have the fingerprint `expected`
    (a constant-time comparison)."""
    actual = account_fingerprint(settings, email=email, password_hash=password_hash)
    return hmac.compare_digest(actual, expected)


def create_reset_token(
    settings: Settings, *, user_id: uuid.UUID, email: str, password_hash: str
) -> str:
    """A password reset token: valid once, and only while the email and password it
    was issued for are unchanged."""
    now = utcnow()
    return create_token(
        settings,
        token_type="reset",
        subject=user_id,
        issued_at=now,
        expires_at=now + timedelta(minutes=settings.password_reset_expire_minutes),
        claims={"acct": account_fingerprint(settings, email=email, password_hash=password_hash)},
    )


def decode_reset_token(settings: Settings, token: str) -> ResetClaims:
    """The claims of a valid reset token; raises `InvalidTokenError`."""
    user_id, account = _decode(settings, token, "reset", "acct")
    return ResetClaims(user_id=user_id, account_fingerprint=account)


def hash_token(token: str) -> str:
    """The stored form of a refresh token (it has enough entropy for plain SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


def fingerprint(settings: Settings, value: str) -> str:
    """A keyed, non-reversible fingerprint of `value`."""
    return hmac.new(settings.secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]
