"""Password hashing (bcrypt) and tokens (JWT)."""

import asyncio
import contextlib
import hashlib
import hmac
import os
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import anyio
import bcrypt
import jwt
from starlette.requests import ClientDisconnect

from app.config import Settings
from app.models import PASSWORD_MAX_BYTES, utcnow

TokenType = Literal["access", "refresh", "reset"]
Abandoned = Callable[[], Awaitable[bool]]


class PasswordHasher:
    """bcrypt, run off the event loop on a few low-priority threads.

    At most `concurrency` hashes run at once per process, on threads with a lower
    CPU priority, so a flood of sign-ins cannot starve the other requests. Requests
    wait for a hashing slot without a thread, and one whose client has gone away by
    then is dropped instead of hashed. Checking a password against no hash (unknown
    email) costs the same as a real check.
    """

    def __init__(self, rounds: int, concurrency: int) -> None:
        self.rounds = rounds
        self._slots = anyio.Semaphore(concurrency)
        self._executor = ThreadPoolExecutor(
            max_workers=concurrency,
            thread_name_prefix="bcrypt",
            initializer=_lower_thread_priority,
        )
        self._dummy_hash = self.hash_sync(os.urandom(16).hex())

    def hash_sync(self, password: str) -> str:
        """Hash `password` on the calling thread."""
        hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.rounds))
        return hashed.decode()

    def verify_sync(self, password: str, password_hash: str | None) -> bool:
        """Check `password` on the calling thread; `None` or unusable input is `False`."""
        candidate = _password_bytes(password)
        stored = (password_hash or self._dummy_hash).encode()
        if candidate is None:
            bcrypt.checkpw(b"", self._dummy_hash.encode())
            return False
        matches: bool = bcrypt.checkpw(candidate, stored)
        return matches and password_hash is not None

    async def hash(self, password: str, *, abandoned: Abandoned | None = None) -> str:
        """Hash `password` on the hashing threads.

        `abandoned` (such as `request.is_disconnected`) is asked once a slot is free;
        when it answers true, `ClientDisconnect` is raised and nothing is hashed.
        """
        async with self._slots:
            await _check(abandoned)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.hash_sync, password)

    async def verify(
        self, password: str, password_hash: str | None, *, abandoned: Abandoned | None = None
    ) -> bool:
        """Check `password` on the hashing threads (`abandoned` as for `hash`)."""
        async with self._slots:
            await _check(abandoned)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, self.verify_sync, password, password_hash
            )

    def close(self) -> None:
        """Stop the hashing threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)


async def _check(abandoned: Abandoned | None) -> None:
    if abandoned is not None and await abandoned():
        raise ClientDisconnect


def _lower_thread_priority() -> None:
    # On Linux, PRIO_PROCESS with id 0 applies to the calling thread only.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 10)


def _password_bytes(password: str) -> bytes | None:
    try:
        encoded = password.encode()
    except UnicodeEncodeError:
        return None
    return encoded if len(encoded) <= PASSWORD_MAX_BYTES else None


class InvalidTokenError(Exception):
    """A token that is malformed, expired, forged, or meant for something else."""


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What an access or refresh token says: whose it is and which session it belongs to."""

    user_id: uuid.UUID
    session_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ResetClaims:
    """What a password reset token says: whose it is and which password it may replace."""

    user_id: uuid.UUID
    password_fingerprint: str


def create_token(
    settings: Settings,
    *,
    token_type: TokenType,
    subject: uuid.UUID,
    expires_at: datetime,
    claims: dict[str, str],
) -> str:
    """A signed JWT for one purpose (`type`) with `sub`, `iat`, `exp`, `jti` and `claims`."""
    payload: dict[str, Any] = {
        **claims,
        "sub": str(subject),
        "type": token_type,
        "iat": utcnow(),
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
    expires_at: datetime,
) -> str:
    """An access or refresh token of one session."""
    return create_token(
        settings,
        token_type=token_type,
        subject=user_id,
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


def create_reset_token(settings: Settings, *, user_id: uuid.UUID, password_hash: str) -> str:
    """A password reset token, valid once: it names the password it may replace."""
    minutes = settings.password_reset_expire_minutes
    return create_token(
        settings,
        token_type="reset",
        subject=user_id,
        expires_at=utcnow() + timedelta(minutes=minutes),
        claims={"pwd": fingerprint(settings, password_hash)},
    )


def decode_reset_token(settings: Settings, token: str) -> ResetClaims:
    """The claims of a valid reset token; raises `InvalidTokenError`."""
    user_id, password_fingerprint = _decode(settings, token, "reset", "pwd")
    return ResetClaims(user_id=user_id, password_fingerprint=password_fingerprint)


def hash_token(token: str) -> str:
    """The stored form of a refresh token (it has enough entropy for plain SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


def fingerprint(settings: Settings, value: str) -> str:
    """A keyed, non-reversible fingerprint of `value` (binds reset tokens to a password)."""
    return hmac.new(settings.secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def matches_fingerprint(settings: Settings, value: str, expected: str) -> bool:
    """Whether `value` has the fingerprint `expected` (constant-time comparison)."""
    return hmac.compare_digest(fingerprint(settings, value), expected)
