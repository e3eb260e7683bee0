"""Signed tokens (JWT, one purpose each) and the hashes and fingerprints kept of them.

Every token names the key that signed it (`kid`, a digest of the key, never the key):
verification takes that key from JWT_SECRET_KEY or JWT_PREVIOUS_SECRET_KEYS, so keys
can be rotated without signing anyone out. A token without `kid` (issued before kids
existed) is tried against the previous keys only when the current one finds its
signature wrong, never when it has expired.
"""

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt

from app.core.config import Settings
from app.models.fields import utcnow

TokenType = Literal["access", "refresh", "reset", "verify_email", "two_factor", "oauth_flow"]
VERIFY_EMAIL_HOURS = 24


class InvalidTokenError(Exception):
    """A token that is malformed, expired, forged, or meant for something else."""


def key_id(key: str) -> str:
    """The `kid` of a signing key: the first 16 hex characters of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _keys(settings: Settings) -> dict[str, str]:
    """kid -> key, the current key first."""
    return {key_id(key): key for key in (settings.secret_key, *settings.previous_secret_keys)}


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What an access or refresh token says: whose it is and which session it belongs to."""

    user_id: uuid.UUID
    session_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class AccountClaims:
    """What a reset or verification token says: whose it is, a fingerprint of what it
    is bound to (the account's email and its changes, and password for a reset), and the key that
    signed it (the fingerprint was made with that key)."""

    user_id: uuid.UUID
    fingerprint: str
    key: str


def create_token(
    settings: Settings,
    *,
    token_type: TokenType,
    subject: uuid.UUID,
    issued_at: datetime,
    expires_at: datetime,
    claims: dict[str, str],
    token_id: str | None = None,
) -> str:
    """A signed JWT for one purpose (`type`) with `sub`, `iat`, `exp`, `jti` and `claims`.

    `iat` and `exp` come from the caller's one reading of the clock, so a token
    lives exactly as long as the response says. `jti` is `token_id`, else random.
    """
    payload: dict[str, Any] = {
        **claims,
        "sub": str(subject),
        "type": token_type,
        "iat": issued_at,
        "exp": expires_at,
        "jti": token_id or uuid.uuid4().hex,
    }
    key = settings.secret_key
    headers = {"kid": key_id(key)}
    return jwt.encode(payload, key, algorithm=settings.jwt_algorithm, headers=headers)


def _verify(settings: Settings, token: str, required: list[str]) -> tuple[dict[str, Any], str]:
    """The payload of `token` and the key that signed it; raises `jwt.PyJWTError`."""
    keys = _keys(settings)
    options: Any = {"require": required}
    kid = jwt.get_unverified_header(token).get("kid")
    if kid is not None:
        if not isinstance(kid, str) or kid not in keys:
            raise jwt.InvalidKeyError("unknown kid")
        key = keys[kid]
        return jwt.decode(token, key, algorithms=[settings.jwt_algorithm], options=options), key
    for number, key in enumerate(keys.values()):
        try:
            payload = jwt.decode(token, key, algorithms=[settings.jwt_algorithm], options=options)
        except jwt.InvalidSignatureError:
            if number == len(keys) - 1:
                raise
            continue
        return payload, key
    raise jwt.InvalidSignatureError  # pragma: no cover - the loop returns or raises


@dataclass(frozen=True, slots=True)
class Verified:
    subject: uuid.UUID
    claim: str  # the value of the claim asked for
    key: str  # the key that signed the token
    expires_at: float  # a POSIX timestamp


def decode(settings: Settings, token: str, token_type: TokenType, claim: str) -> Verified:
    """Verify `token` strictly; returns its subject, its string claim `claim`, the key
    that signed it and its expiry.

    The signature must use the one configured algorithm (so `none` and algorithm
    confusion are refused), `exp` must lie ahead, and `type` must be `token_type`.
    """
    try:
        payload, key = _verify(settings, token, ["sub", "type", "iat", "exp", "jti", claim])
        if payload["type"] != token_type:
            raise InvalidTokenError(f"not a {token_type} token")
        value = payload[claim]
        if not isinstance(value, str):
            raise InvalidTokenError(f"{claim} is not a string")
        return Verified(uuid.UUID(payload["sub"]), value, key, float(payload["exp"]))
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
    token_id: str | None = None,
) -> str:
    """An access or refresh token of one session."""
    return create_token(
        settings,
        token_type=token_type,
        subject=user_id,
        issued_at=issued_at,
        expires_at=expires_at,
        claims={"sid": str(session_id)},
        token_id=token_id,
    )


def successor_token_id(settings: Settings, spent_hash: str) -> str:
    """The `jti` of the refresh token that replaces the one hashed as `spent_hash`.

    Derived from it (keyed), so that successor can be issued again, identical.
    """
    return fingerprint(settings.secret_key, f"successor\n{spent_hash}")


# Access tokens verified lately, with what they say: a client sends the same token
# with every request, and checking its signature again costs more than the rest of
# authentication. Keyed by the token and the keys it may be signed with (a removed
# key voids its entries); the expiry is checked on every use. `make bench` (a): 0.37 x
# the limit app without this cache, 0.42 with it (3 runs each, 2026-12-04).
_verified_access_tokens: dict[tuple[str, str, tuple[str, ...]], Verified] = {}
_VERIFIED_ACCESS_TOKENS_MAX = 4096


def _verified_access_token(settings: Settings, token: str) -> Verified:
    keys = (settings.secret_key, *settings.previous_secret_keys)
    cache_key = (token, settings.jwt_algorithm, keys)
    verified = _verified_access_tokens.get(cache_key)
    if verified is None:
        verified = decode(settings, token, "access", "sid")
        if len(_verified_access_tokens) >= _VERIFIED_ACCESS_TOKENS_MAX:
            _verified_access_tokens.clear()
        _verified_access_tokens[cache_key] = verified
    if verified.expires_at <= time.time():
        raise InvalidTokenError("expired")
    return verified


def decode_session_token(
    settings: Settings, token: str, token_type: Literal["access", "refresh"]
) -> SessionClaims:
    """The claims of a valid access or refresh token; raises `InvalidTokenError`."""
    if token_type == "access":
        verified = _verified_access_token(settings, token)
    else:
        verified = decode(settings, token, token_type, "sid")
    try:
        return SessionClaims(user_id=verified.subject, session_id=uuid.UUID(verified.claim))
    except ValueError as exc:
        raise InvalidTokenError(str(exc)) from exc


def fingerprint(key: str, value: str) -> str:
    """A fingerprint of `value` keyed with `key` (non-reversible)."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def reset_fingerprint(key: str, *, email: str, email_changes: int, password_hash: str) -> str:
    """What a reset token is bound to: the account's email, how many times it changed,
    and the password hash."""
    return fingerprint(key, f"{email}\n{email_changes}\n{password_hash}")


def verification_fingerprint(key: str, *, email: str, email_changes: int) -> str:
    """What a verification token is bound to: the address it proves, and how many
    times the account's address changed."""
    return fingerprint(key, f"verify:{email}\n{email_changes}")


def challenge_fingerprint(key: str, *, password_hash: str, factor: str) -> str:
    """What a two-factor challenge is bound to: the password it proved and the
    enrolment it asks a code of (a password change or a new enrolment voids it)."""
    return fingerprint(key, f"two-factor\n{password_hash}\n{factor}")


def matches(claims: AccountClaims, expected: str) -> bool:
    """Whether a token's fingerprint is `expected` (a constant-time comparison)."""
    return hmac.compare_digest(claims.fingerprint, expected)


def _account_token(
    settings: Settings,
    token_type: TokenType,
    *,
    user_id: uuid.UUID,
    fingerprint: str,
    lifetime: timedelta,
) -> str:
    now = utcnow()
    return create_token(
        settings,
        token_type=token_type,
        subject=user_id,
        issued_at=now,
        expires_at=now + lifetime,
        claims={"acct": fingerprint},
    )


def create_reset_token(
    settings: Settings, *, user_id: uuid.UUID, email: str, email_changes: int, password_hash: str
) -> str:
    """A password reset token: valid once, and only while the email and password it
    was issued for are unchanged (an email changed and changed back counts)."""
    bound = reset_fingerprint(
        settings.secret_key, email=email, email_changes=email_changes, password_hash=password_hash
    )
    lifetime = timedelta(minutes=settings.password_reset_expire_minutes)
    return _account_token(settings, "reset", user_id=user_id, fingerprint=bound, lifetime=lifetime)


def create_verification_token(
    settings: Settings, *, user_id: uuid.UUID, email: str, email_changes: int
) -> str:
    """An email verification token (24 h): void once the account's email changes."""
    bound = verification_fingerprint(settings.secret_key, email=email, email_changes=email_changes)
    lifetime = timedelta(hours=VERIFY_EMAIL_HOURS)
    return _account_token(
        settings, "verify_email", user_id=user_id, fingerprint=bound, lifetime=lifetime
    )


def create_challenge_token(
    settings: Settings, *, user_id: uuid.UUID, password_hash: str, factor: str
) -> str:
    """A two-factor challenge: the password of `user_id` was right, a code is due
    (TWO_FACTOR_CHALLENGE_MINUTES). It opens no session by itself."""
    bound = challenge_fingerprint(settings.secret_key, password_hash=password_hash, factor=factor)
    lifetime = timedelta(minutes=settings.two_factor_challenge_minutes)
    return _account_token(
        settings, "two_factor", user_id=user_id, fingerprint=bound, lifetime=lifetime
    )


def decode_account_token(
    settings: Settings, token: str, token_type: Literal["reset", "verify_email", "two_factor"]
) -> AccountClaims:
    """The claims of a valid reset, verification or two-factor challenge token;
    raises `InvalidTokenError`."""
    verified = decode(settings, token, token_type, "acct")
    return AccountClaims(user_id=verified.subject, fingerprint=verified.claim, key=verified.key)


def hash_token(token: str) -> str:
    """The stored form of a high-entropy token (refresh or API token): plain SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()
