"""Checking passwords: signing in, and proving one's current password.

Every password check is reserved against the sign-in budgets before bcrypt runs
(`throttle`), so no burst of guesses is ever checked past the limit, and it runs on
the hasher's threads with no connection held. An unknown email costs the same check
as a known one and gets the same answer as a wrong password. No HTTP here.
"""

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from sqlmodel import Session

from app import accounts, audit, sessions, throttle
from app.audit import AuditAction, Outcome
from app.caller import Caller
from app.config import Settings
from app.context import ANONYMOUS
from app.errors import AppError, ErrorCode, too_many_attempts
from app.fields import utcnow
from app.models import Role, User
from app.passwords import Abandoned, HashingBusy, RequestAbandoned
from app.payloads import LoginRequest, TokenPair
from app.sessions import ClientInfo
from app.state import AppState
from app.throttle import Keys, Reservation

# How long a password check waits for the checks in flight that hold its budget.
BUSY_POLL_SECONDS = 0.05
BUSY_WAIT_SECONDS = 30


async def reserved(
    run: Callable[..., Awaitable[Any]], unit: Callable[..., Any], **kwargs: Any
) -> Any:
    """`await run(unit, **kwargs)` (a unit that reserves a password check), again
    while the budget is held by checks in flight; 429 if that lasts too long."""
    deadline = time.monotonic() + BUSY_WAIT_SECONDS
    while True:
        try:
            return await run(unit, **kwargs)
        except throttle.Busy:
            if time.monotonic() > deadline:
                raise too_many_attempts(1) from None
            await anyio.sleep(BUSY_POLL_SECONDS)


def _reserve_and_find(db: Session, *, keys: Keys, email: str) -> tuple[User | None, Reservation]:
    reservation = throttle.reserve(db, keys, now=utcnow())
    return accounts.find_by_email(db, email), reservation


def _reserve_for(
    db: Session, user: User, *, settings: Settings, ip_address: str | None
) -> tuple[User, Reservation]:
    keys = throttle.sign_in_keys(settings, email=user.email, ip_address=ip_address)
    return user, throttle.reserve(db, keys, now=utcnow())


def _refused(db: Session, *, reservation: Reservation, user: User | None, reason: str) -> None:
    """A sign-in refused: its check settles (a wrong password counts) and is recorded,
    naming the account only if there is one (an unknown email is not stored)."""
    throttle.settle(db, reservation, failed=reason == "bad_credentials")
    audit.record(
        db, AuditAction.LOGIN_FAILED, outcome=Outcome.FAILURE, reason=reason,
        actor=ANONYMOUS, target=user,
    )  # fmt: skip


async def verify(
    state: AppState,
    password: str,
    password_hash: str | None,
    reservation: Reservation,
    abandoned: Abandoned | None = None,
) -> bool:
    """Check a password whose attempt is reserved. A check that never ran (the client
    left first, or no hashing slot came free in time) settles as nothing."""
    try:
        return await state.hasher.verify(password, password_hash, abandoned=abandoned)
    except (RequestAbandoned, HashingBusy):
        await state.database.run(throttle.settle, reservation, failed=False)
        raise


def _start_session(
    db: Session, *, user: User, settings: Settings, client: ClientInfo, reservation: Reservation
) -> TokenPair:
    throttle.settle(db, reservation, failed=False)
    pair, session_id = sessions.open_session(db, user, settings=settings, client=client)
    actor = audit.acting(user, credential_id=session_id)
    audit.record(db, AuditAction.LOGIN_SUCCEEDED, actor=actor, target=user)
    return pair


async def sign_in(
    state: AppState,
    *,
    credentials: LoginRequest,
    client: ClientInfo,
    abandoned: Abandoned | None = None,
    admin_only: bool = False,
) -> TokenPair:
    """Check credentials under throttling and open a session. With `admin_only` (the
    back office), a right password of a non-admin gets the answer of a wrong one."""
    settings, database = state.settings, state.database
    keys = throttle.sign_in_keys(settings, email=credentials.email, ip_address=client.ip_address)
    user, reservation = await reserved(
        database.run, _reserve_and_find, keys=keys, email=credentials.email
    )
    password_hash = user.password_hash if user else None
    matches = await verify(state, credentials.password, password_hash, reservation, abandoned)
    refusal = _refusal(settings, user if matches else None, admin_only=admin_only)
    if refusal is not None:
        await database.run(_refused, reservation=reservation, user=user, reason=refusal.reason)
        raise AppError(refusal.code)
    return await database.run(
        _start_session, user=user, settings=settings, client=client, reservation=reservation
    )


class _Refusal:
    def __init__(self, code: ErrorCode, reason: str) -> None:
        self.code, self.reason = code, reason


def _refusal(settings: Settings, user: User | None, *, admin_only: bool) -> _Refusal | None:
    """Why a sign-in with a checked password is refused (`user` is None when the
    password did not match), if it is."""
    if user is None or (admin_only and user.role != Role.ADMIN):
        return _Refusal(ErrorCode.LOGIN_BAD_CREDENTIALS, "bad_credentials")
    if not user.is_active:
        return _Refusal(ErrorCode.ACCOUNT_DISABLED, "account_disabled")
    if settings.require_email_verification and not user.email_verified:
        return _Refusal(ErrorCode.EMAIL_NOT_VERIFIED, "email_not_verified")
    return None


async def confirm_current_password(
    caller: Caller, state: AppState, *, password: str, client: ClientInfo
) -> tuple[User, Reservation]:
    """The caller, once `password` is proven theirs; a wrong one is 400 and counts as
    a failed sign-in for the account (429 once throttled). The reservation stays open
    for the change that follows to settle."""
    user, reservation = await reserved(
        caller.run, _reserve_for, settings=state.settings, ip_address=client.ip_address
    )
    if not await verify(state, password, user.password_hash, reservation):
        await state.database.run(throttle.settle, reservation, failed=True)
        raise AppError(ErrorCode.CURRENT_PASSWORD_WRONG)
    return user, reservation
