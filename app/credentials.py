"""Use cases that check or set a password: sign-in, sign-up, password change and reset.

Each runs its database steps as units and checks or hashes passwords on the hasher's
threads between them, so no connection is held while bcrypt runs, and a caller is
authorized before any hashing is spent on them. No HTTP here: the API's routes call
these, and so can any other front end.
"""

import uuid
from typing import Any

from sqlmodel import Session, col, select

from app import accounts, sessions, throttle
from app.caller import Caller
from app.config import Settings
from app.errors import AppError, ErrorCode, too_many_attempts
from app.fields import utcnow
from app.models import LoginRequest, TokenPair, User, UserCreate, UserRegister
from app.passwords import Abandoned
from app.sessions import ClientInfo
from app.state import AppState
from app.tokens import (
    InvalidTokenError,
    create_reset_token,
    decode_reset_token,
    matches_fingerprint,
)

# Registration answers a taken email with 400 (its original contract), not 409.
REGISTRATION_TAKEN_STATUS = 400


def _throttled_lookup(
    db: Session, *, settings: Settings, keys: list[str], email: str
) -> tuple[int | None, User | None]:
    wait = throttle.retry_after(db, settings=settings, keys=keys, now=utcnow())
    return wait, None if wait else accounts.find_by_email(db, email)


def _start_session(
    db: Session, *, user: User, settings: Settings, client: ClientInfo, email_key: str
) -> TokenPair:
    throttle.clear(db, key=email_key)
    return sessions.open_session(db, user, settings=settings, client=client)


async def sign_in(
    state: AppState,
    *,
    credentials: LoginRequest,
    client: ClientInfo,
    abandoned: Abandoned | None = None,
) -> TokenPair:
    """Check credentials under throttling and open a session.

    An unknown email costs the same password check as a known one, and gets the
    same answer as a wrong password.
    """
    settings, database = state.settings, state.database
    keys = throttle.keys_for(credentials.email, client.ip_address)
    wait, user = await database.read(
        _throttled_lookup, settings=settings, keys=keys, email=credentials.email
    )
    if wait is not None:
        raise too_many_attempts(wait)
    password_hash = user.password_hash if user else None
    password_ok = await state.hasher.verify(
        credentials.password, password_hash, abandoned=abandoned
    )
    if user is None or not password_ok:
        await database.run(throttle.record_failure, settings=settings, keys=keys, now=utcnow())
        raise AppError(ErrorCode.LOGIN_BAD_CREDENTIALS)
    if not user.is_active:
        raise AppError(ErrorCode.ACCOUNT_DISABLED)
    return await database.run(
        _start_session, user=user, settings=settings, client=client, email_key=keys[0]
    )


async def register(
    state: AppState, *, user_in: UserRegister, abandoned: Abandoned | None = None
) -> User:
    """Open sign-up: create an account with role USER (when registration is allowed)."""
    if not state.settings.allow_registration:
        raise AppError(ErrorCode.REGISTRATION_DISABLED)
    status = REGISTRATION_TAKEN_STATUS
    await state.database.read(accounts.ensure_email_free, user_in.email, status=status)
    password_hash = await state.hasher.hash(user_in.password, abandoned=abandoned)
    return await state.database.run(
        accounts.create_user, user_in=user_in, password_hash=password_hash, taken_status=status
    )


async def create_user(admin: Caller, state: AppState, *, user_in: UserCreate) -> User:
    """An admin creates an account with any role."""
    await admin.read(accounts.check_email_free, email=user_in.email)
    password_hash = await state.hasher.hash(user_in.password)
    return await admin.run(
        accounts.create_user_as_admin, user_in=user_in, password_hash=password_hash
    )


async def update_user(
    admin: Caller,
    state: AppState,
    *,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    password: str | None,
) -> User:
    """An admin changes an account; a new password signs its owner out everywhere."""
    password_hash = None
    if password is not None:
        await admin.me()  # authorized before any hashing is spent
        password_hash = await state.hasher.hash(password)
    return await admin.run(
        accounts.update_user_as_admin,
        user_id=user_id,
        changes=changes,
        password_hash=password_hash,
    )


async def change_password(
    caller: Caller, state: AppState, *, current_password: str, new_password: str
) -> None:
    """The caller changes their password; their other sessions are signed out."""
    user = await caller.me()
    if not await state.hasher.verify(current_password, user.password_hash):
        raise AppError(ErrorCode.CURRENT_PASSWORD_WRONG)
    password_hash = await state.hasher.hash(new_password)
    changed = await caller.run(
        accounts.set_password,
        password_hash=password_hash,
        expected_hash=user.password_hash,
        keep_session=caller.claims.session_id,
    )
    if not changed:  # another change won meanwhile: this current password is stale
        raise AppError(ErrorCode.CURRENT_PASSWORD_WRONG)


async def reset_mail(state: AppState, *, email: str) -> tuple[str, str] | None:
    """The address and token of a password reset mail for `email`, or `None` when no
    active account uses it (the caller answers the same either way)."""
    user = await state.database.read(accounts.find_by_email, email)
    if user is None or not user.is_active:
        return None
    token = create_reset_token(state.settings, user_id=user.id, password_hash=user.password_hash)
    return user.email, token


def _active_user(db: Session, user_id: uuid.UUID) -> User | None:
    return db.exec(
        select(User).where(col(User.id) == user_id, col(User.is_active).is_(True))
    ).first()


def _reset(db: Session, *, user_id: uuid.UUID, expected_hash: str, password_hash: str) -> bool:
    user = _active_user(db, user_id)
    if user is None:
        return False
    return accounts.set_password(db, user, password_hash=password_hash, expected_hash=expected_hash)


async def reset_password(state: AppState, *, token: str, new_password: str) -> None:
    """Set a new password with a reset token; every session of the user is signed out.

    The token is bound to the password it was issued for, so it dies once used.
    """
    settings = state.settings
    try:
        claims = decode_reset_token(settings, token)
    except InvalidTokenError:
        raise AppError(ErrorCode.RESET_TOKEN_INVALID) from None
    user = await state.database.read(_active_user, claims.user_id)
    if user is None or not matches_fingerprint(
        settings, user.password_hash, claims.password_fingerprint
    ):
        raise AppError(ErrorCode.RESET_TOKEN_INVALID)
    password_hash = await state.hasher.hash(new_password)
    swapped = await state.database.run(
        _reset, user_id=user.id, expected_hash=user.password_hash, password_hash=password_hash
    )
    if not swapped:
        raise AppError(ErrorCode.RESET_TOKEN_INVALID)
