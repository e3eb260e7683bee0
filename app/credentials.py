"""Use cases that check or set a password: sign-in, sign-up, password and email change,
password reset.

Each runs its database steps as units and checks or hashes passwords on the hasher's
threads between them, so no connection is held while bcrypt runs, and a caller is
authorized before any hashing is spent on them. Every password check is reserved
against the sign-in budgets first (`throttle`), so no burst of guesses is ever
evaluated past the limit. No HTTP here: the API's routes call these, and so can any
other front end.
"""

import time
import uuid
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
from sqlmodel import Session, col, select

from app import accounts, sessions, throttle
from app.caller import Caller
from app.config import Settings
from app.errors import AppError, ErrorCode, too_many_attempts
from app.fields import utcnow
from app.models import LoginRequest, Role, TokenPair, User, UserCreate, UserRegister
from app.passwords import Abandoned, RequestAbandoned
from app.sessions import ClientInfo
from app.state import AppState
from app.throttle import Keys, Reservation
from app.tokens import (
    InvalidTokenError,
    create_reset_token,
    decode_reset_token,
    matches_account,
)

# Registration answers a taken email with 400 (its original contract), not 409.
REGISTRATION_TAKEN_STATUS = 400
# How long a password check waits for the checks in flight that hold its budget.
BUSY_POLL_SECONDS = 0.05
BUSY_WAIT_SECONDS = 30
P = ParamSpec("P")
T = TypeVar("T")


async def _reserved(
    run: Callable[..., Any], unit: Callable[Concatenate[Session, P], T], /, **kwargs: Any
) -> T:
    """`await run(unit, **kwargs)` (a unit that reserves a password check), again
    while the budget is held by checks in flight; 429 if that lasts too long."""
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    while True:
        try:
            result: T = await run(unit, **kwargs)
        except throttle.Busy:
            if time.monotonic() > deadline:
                raise too_many_attempts(1) from None
            await anyio.sleep(BUSY_POLL_SECONDS)
        else:
            return result


def _reserve_and_find(db: Session, *, keys: Keys, email: str) -> tuple[User | None, Reservation]:
    reservation = throttle.reserve(db, keys, now=utcnow())
    return accounts.find_by_email(db, email), reservation


def _reserve_for(
    db: Session, user: User, *, settings: Settings, ip_address: str | None
) -> tuple[User, Reservation]:
    keys = throttle.sign_in_keys(settings, email=user.email, ip_address=ip_address)
    return user, throttle.reserve(db, keys, now=utcnow())


async def _verify(
    state: AppState,
    password: str,
    password_hash: str | None,
    reservation: Reservation,
    abandoned: Abandoned | None = None,
) -> bool:
    """Check a password whose attempt is reserved. A wrong one settles the reservation
    as a failure; a check that never ran (the client left first) as nothing."""
    try:
        matches = await state.hasher.verify(password, password_hash, abandoned=abandoned)
    except RequestAbandoned:
        await state.database.run(throttle.settle, reservation, failed=False)
        raise
    if not matches:  # also for no hash at all: an unknown account
        await state.database.run(throttle.settle, reservation, failed=True)
    return matches


def _start_session(
    db: Session, *, user: User, settings: Settings, client: ClientInfo, reservation: Reservation
) -> TokenPair:
    throttle.settle(db, reservation, failed=False)
    return sessions.open_session(db, user, settings=settings, client=client)


async def sign_in(
    state: AppState,
    *,
    credentials: LoginRequest,
    client: ClientInfo,
    abandoned: Abandoned | None = None,
    admin_only: bool = False,
) -> TokenPair:
    """Check credentials under throttling and open a session.

    An unknown email costs the same password check as a known one, and gets the
    same answer as a wrong password. With `admin_only` (the back office), so does
    the right password of an account that is not an admin, and it counts as a
    failed sign-in too.
    """
    settings, database = state.settings, state.database
    keys = throttle.sign_in_keys(settings, email=credentials.email, ip_address=client.ip_address)
    user, reservation = await _reserved(
        database.run, _reserve_and_find, keys=keys, email=credentials.email
    )
    password_hash = user.password_hash if user else None
    password_ok = await _verify(state, credentials.password, password_hash, reservation, abandoned)
    if password_ok and admin_only and user is not None and user.role != Role.ADMIN:
        await database.run(throttle.settle, reservation, failed=True)
        password_ok = False
    if user is None or not password_ok:
        raise AppError(ErrorCode.LOGIN_BAD_CREDENTIALS)
    if not user.is_active:
        await database.run(throttle.settle, reservation, failed=False)
        raise AppError(ErrorCode.ACCOUNT_DISABLED)
    return await database.run(
        _start_session, user=user, settings=settings, client=client, reservation=reservation
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


async def _confirm_current_password(
    caller: Caller, state: AppState, *, password: str, client: ClientInfo
) -> tuple[User, Reservation]:
    """The caller, once `password` is proven theirs; a wrong one is 400 and counts as
    a failed sign-in for the account (429 once throttled)."""
    user, reservation = await _reserved(
        caller.run, _reserve_for, settings=state.settings, ip_address=client.ip_address
    )
    if not await _verify(state, password, user.password_hash, reservation):
        raise AppError(ErrorCode.CURRENT_PASSWORD_WRONG)
    return user, reservation


def _update_profile(
    db: Session, user: User, *, changes: dict[str, Any], reservation: Reservation
) -> User:
    throttle.settle(db, reservation, failed=False)
    return accounts.update_user(db, user, changes=changes)


async def update_profile(
    caller: Caller,
    state: AppState,
    *,
    changes: dict[str, Any],
    current_password: str | None,
    client: ClientInfo,
) -> User:
    """The caller changes their name or email; a new email needs the current password."""
    reservation: Reservation = {}
    if "email" in changes:
        if current_password is None:  # the request model makes sure it is there
            raise AppError(ErrorCode.CURRENT_PASSWORD_WRONG)
        _user, reservation = await _confirm_current_password(
            caller, state, password=current_password, client=client
        )
    return await caller.run(_update_profile, changes=changes, reservation=reservation)


def _set_new_password(
    db: Session,
    user: User,
    *,
    password_hash: str,
    expected_hash: str,
    keep_session: uuid.UUID,
    reservation: Reservation,
) -> bool:
    throttle.settle(db, reservation, failed=False)
    return accounts.set_password(
        db,
        user,
        password_hash=password_hash,
        expected_hash=expected_hash,
        keep_session=keep_session,
    )


async def change_password(
    caller: Caller,
    state: AppState,
    *,
    current_password: str,
    new_password: str,
    client: ClientInfo,
) -> None:
    """The caller changes their password; their other sessions are signed out."""
    user, reservation = await _confirm_current_password(
        caller, state, password=current_password, client=client
    )
    password_hash = await state.hasher.hash(new_password)
    changed = await caller.run(
        _set_new_password,
        password_hash=password_hash,
        expected_hash=user.password_hash,
        keep_session=caller.claims.session_id,
        reservation=reservation,
    )
    if not changed:  # another change won meanwhile: this current password is stale
        raise AppError(ErrorCode.CURRENT_PASSWORD_WRONG)


async def reset_mail(state: AppState, *, email: str, client: ClientInfo) -> tuple[str, str] | None:
    """The address and token of a password reset mail for `email`, or `None` when no
    active account uses it or its mail budget is spent (the caller answers the same
    either way, so neither is revealed)."""
    keys = throttle.reset_mail_keys(state.settings, email=email, ip_address=client.ip_address)
    try:
        user = await state.database.run(_spend_and_find, keys=keys, email=email)
    except AppError as error:
        if error.code is ErrorCode.TOO_MANY_ATTEMPTS:
            return None
        raise
    if user is None or not user.is_active:
        return None
    token = create_reset_token(
        state.settings, user_id=user.id, email=user.email, password_hash=user.password_hash
    )
    return user.email, token


def _spend_and_find(db: Session, *, keys: Keys, email: str) -> User | None:
    throttle.spend(db, keys, now=utcnow())
    return accounts.find_by_email(db, email)


def _active_user(db: Session, user_id: uuid.UUID) -> User | None:
    return db.exec(
        select(User).where(col(User.id) == user_id, col(User.is_active).is_(True))
    ).first()


def _matches(settings: Settings, user: User | None, expected: str) -> bool:
    return user is not None and matches_account(
        settings, email=user.email, password_hash=user.password_hash, expected=expected
    )


def _reset(
    db: Session, *, settings: Settings, user_id: uuid.UUID, fingerprint: str, password_hash: str
) -> bool:
    user = _active_user(db, user_id)
    if user is None or not _matches(settings, user, fingerprint):
        return False
    return accounts.set_password(
        db,
        user,
        password_hash=password_hash,
        expected_hash=user.password_hash,
        expected_email=user.email,
    )


async def reset_password(state: AppState, *, token: str, new_password: str) -> None:
    """Set a new password with a reset token; every session of the user is signed out.

    The token is bound to the account's email and password when it was issued, so
    it dies once used, or once either has changed.
    """
    settings = state.settings
    try:
        claims = decode_reset_token(settings, token)
    except InvalidTokenError:
        raise AppError(ErrorCode.RESET_TOKEN_INVALID) from None
    user = await state.database.read(_active_user, claims.user_id)
    if not _matches(settings, user, claims.account_fingerprint):
        raise AppError(ErrorCode.RESET_TOKEN_INVALID)
    password_hash = await state.hasher.hash(new_password)
    swapped = await state.database.run(
        _reset,
        settings=settings,
        user_id=claims.user_id,
        fingerprint=claims.account_fingerprint,
        password_hash=password_hash,
    )
    if not swapped:
        raise AppError(ErrorCode.RESET_TOKEN_INVALID)
