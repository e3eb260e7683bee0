"""Use cases that set a password or an email: sign-up, an admin creating or changing an
account, the caller changing their profile or password.

Each runs its database steps as units and hashes on the hasher's threads between
them, so no connection is held while bcrypt runs, and a caller is authorized before
any hashing is spent on them. A use case returns the mail it asks to send (a new
address to verify); the route sends it after the response. No HTTP here.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel import Session

from app import accounts, audit, throttle
from app.audit import AuditAction
from app.caller import Caller
from app.errors import AppError, ErrorCode
from app.mail import Mail
from app.models import User, UserCreate, UserRegister
from app.passwords import Abandoned
from app.sessions import ClientInfo
from app.sign_in import confirm_current_password
from app.state import AppState
from app.throttle import Reservation
from app.tokens import create_verification_token

# Registration answers a taken email with 400 (its original contract), not 409.
REGISTRATION_TAKEN_STATUS = 400


def verification_mail(state: AppState, user: User) -> Mail | None:
    """The mail that proves `user`'s address, when verification is required and the
    address is not proven yet."""
    if not state.settings.require_email_verification or user.email_verified:
        return None
    token = create_verification_token(state.settings, user_id=user.id, email=user.email)
    return Mail("verify", user.email, token)


async def register(
    state: AppState, *, user_in: UserRegister, abandoned: Abandoned | None = None
) -> tuple[User, Mail | None]:
    """Open sign-up: an account with role USER (when registration is allowed), and the
    mail that verifies its address (when verification is required; otherwise the
    address counts as verified, so turning verification on later locks nobody out)."""
    if not state.settings.allow_registration:
        raise AppError(ErrorCode.REGISTRATION_DISABLED)
    status = REGISTRATION_TAKEN_STATUS
    await state.database.read(accounts.ensure_email_free, user_in.email, status=status)
    password_hash = await state.hasher.hash(user_in.password, abandoned=abandoned)
    user = await state.database.run(
        _sign_up,
        user_in=user_in,
        password_hash=password_hash,
        verified=not state.settings.require_email_verification,
    )
    return user, verification_mail(state, user)


def _sign_up(db: Session, *, user_in: UserRegister, password_hash: str, verified: bool) -> User:
    user = accounts.create_user(
        db,
        user_in=user_in,
        password_hash=password_hash,
        verified=verified,
        taken_status=REGISTRATION_TAKEN_STATUS,
    )
    if not verified:
        user.verification_sent_at = user.created_at
    return user


async def create_user(admin: Caller, state: AppState, *, user_in: UserCreate) -> User:
    """An admin creates an account with any role (its email counts as verified)."""
    await admin.read(accounts.check_email_free, email=user_in.email)
    password_hash = await state.hasher.hash(user_in.password)
    return await admin.run(
        accounts.create_user_as_admin, user_in=user_in, password_hash=password_hash
    )


async def _changed(
    state: AppState,
    run: Callable[..., Awaitable[User]],
    unit: Callable[..., User],
    changes: dict[str, Any],
    **arguments: Any,
) -> tuple[User, Mail | None]:
    """`await run(unit, ...)`, a unit that applies `changes` to an account, and the
    mail that verifies a new email."""
    verification_required = state.settings.require_email_verification
    user = await run(
        unit, changes=changes, verification_required=verification_required, **arguments
    )
    return user, verification_mail(state, user) if "email" in changes else None


async def update_user(
    admin: Caller,
    state: AppState,
    *,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    password: str | None,
) -> tuple[User, Mail | None]:
    """An admin changes an account; a new password signs its owner out everywhere, and
    a new (unverified) email gets its verification mail."""
    password_hash = None
    if password is not None:
        await admin.me()  # authorized before any hashing is spent
        password_hash = await state.hasher.hash(password)
    return await _changed(
        state,
        admin.run,
        accounts.update_user_as_admin,
        changes,
        user_id=user_id,
        password_hash=password_hash,
    )


def _update_profile(
    db: Session,
    user: User,
    *,
    changes: dict[str, Any],
    reservation: Reservation,
    verification_required: bool,
) -> User:
    throttle.settle(db, reservation, failed=False)
    return accounts.update_user(
        db, user, changes=changes, verification_required=verification_required
    )


async def update_profile(
    caller: Caller,
    state: AppState,
    *,
    changes: dict[str, Any],
    current_password: str | None,
    client: ClientInfo,
) -> tuple[User, Mail | None]:
    """The caller changes their name or email; a new email needs the current password
    (and a signed-in session, not an API token) and gets its verification mail."""
    reservation: Reservation = {}
    if "email" in changes:
        caller.claims  # noqa: B018 - refuses API tokens
        if current_password is None:  # the request model makes sure it is there
            raise AppError(ErrorCode.CURRENT_PASSWORD_WRONG)
        _user, reservation = await confirm_current_password(
            caller, state, password=current_password, client=client
        )
    return await _changed(state, caller.run, _update_profile, changes, reservation=reservation)


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
    changed = accounts.set_password(
        db,
        user,
        password_hash=password_hash,
        expected_hash=expected_hash,
        keep_session=keep_session,
    )
    if changed:
        audit.record(db, AuditAction.PASSWORD_CHANGED, target=user)
    return changed


async def change_password(
    caller: Caller,
    state: AppState,
    *,
    current_password: str,
    new_password: str,
    client: ClientInfo,
) -> None:
    """The caller changes their password; their other sessions are signed out."""
    user, reservation = await confirm_current_password(
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
