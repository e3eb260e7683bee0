"""Links sent by mail: password reset, and email verification.

Asking for a link answers the same whether or not the address has an account, and
mails are limited per address and per client address. A link's token is bound to
what it may change (the account's email, and password for a reset), so it works
once, and no more once either changed. Using it is one conditional UPDATE: two uses
at once cannot both succeed. The API never acts on a GET: the link opens the
frontend, which posts the token. No HTTP here.
"""

import uuid
from datetime import timedelta

from sqlmodel import Session, col, select, update

from app import accounts, audit, throttle
from app.audit import AuditAction
from app.config import Settings
from app.context import ANONYMOUS
from app.errors import AppError, ErrorCode
from app.fields import utcnow
from app.mail import Mail
from app.models import User
from app.sessions import ClientInfo
from app.state import AppState
from app.throttle import Keys
from app.tokens import (
    AccountClaims,
    InvalidTokenError,
    create_reset_token,
    create_verification_token,
    decode_account_token,
    matches,
    reset_fingerprint,
    verification_fingerprint,
)

RESEND_AFTER = timedelta(seconds=60)


def _spend_and_find(db: Session, *, keys: Keys, email: str) -> User | None:
    throttle.spend(db, keys, now=utcnow())
    user = accounts.find_by_email(db, email)
    return user if user is not None and user.is_active else None


async def _budgeted_lookup(state: AppState, keys: Keys, email: str) -> User | None:
    """The active account of `email`, if any and if a mail may go (else `None`)."""
    try:
        return await state.database.run(_spend_and_find, keys=keys, email=email)
    except AppError as error:
        if error.code is ErrorCode.TOO_MANY_ATTEMPTS:
            return None
        raise


def _reset_requested(db: Session, *, user_id: uuid.UUID) -> None:
    user = db.get(User, user_id)
    if user is not None:
        audit.record(db, AuditAction.PASSWORD_RESET_REQUESTED, actor=ANONYMOUS, target=user)


async def reset_mail(state: AppState, *, email: str, client: ClientInfo) -> Mail | None:
    """The password reset mail for `email`, or `None` when no active account uses it or
    its mail budget is spent."""
    settings = state.settings
    keys = throttle.reset_mail_keys(settings, email=email, ip_address=client.ip_address)
    user = await _budgeted_lookup(state, keys, email)
    if user is None:
        return None
    await state.database.run(_reset_requested, user_id=user.id)
    token = create_reset_token(
        settings, user_id=user.id, email=user.email, password_hash=user.password_hash
    )
    return Mail("reset", user.email, token)


def _active_user(db: Session, user_id: uuid.UUID) -> User | None:
    return db.exec(
        select(User).where(col(User.id) == user_id, col(User.is_active).is_(True))
    ).first()


def _reset(db: Session, *, claims: AccountClaims, password_hash: str) -> bool:
    user = _active_user(db, claims.user_id)
    bound = user and reset_fingerprint(
        claims.key, email=user.email, password_hash=user.password_hash
    )
    if user is None or not bound or not matches(claims, bound):
        return False
    if not accounts.set_password(
        db,
        user,
        password_hash=password_hash,
        expected_hash=user.password_hash,
        expected_email=user.email,
        revoke_tokens=True,
    ):
        return False
    if user.email_verified_at is None:  # the mail reached its owner: the address is theirs
        user.email_verified_at = utcnow()
        db.add(user)
    audit.record(db, AuditAction.PASSWORD_RESET_COMPLETED, actor=ANONYMOUS, target=user)
    return True


async def reset_password(state: AppState, *, token: str, new_password: str) -> None:
    """Set a new password with a reset token: every session and API token of the user
    ends, and their address counts as verified."""
    try:
        claims = decode_account_token(state.settings, token, "reset")
    except InvalidTokenError:
        raise AppError(ErrorCode.RESET_TOKEN_INVALID) from None
    user = await state.database.read(_active_user, claims.user_id)
    bound = user and reset_fingerprint(
        claims.key, email=user.email, password_hash=user.password_hash
    )
    if not bound or not matches(claims, bound):
        raise AppError(ErrorCode.RESET_TOKEN_INVALID)
    password_hash = await state.hasher.hash(new_password)
    if not await state.database.run(_reset, claims=claims, password_hash=password_hash):
        raise AppError(ErrorCode.RESET_TOKEN_INVALID)


def _verify(db: Session, *, claims: AccountClaims) -> bool:
    user = _active_user(db, claims.user_id)
    if user is None or not matches(claims, verification_fingerprint(claims.key, email=user.email)):
        return False
    verified = db.exec(
        update(User)
        .where(col(User.id) == user.id, col(User.email_verified_at).is_(None))
        .values(email_verified_at=utcnow())
    )
    if verified.rowcount != 1:
        return False
    audit.record(db, AuditAction.EMAIL_VERIFIED, actor=audit.acting(user), target=user)
    return True


async def verify_email(state: AppState, *, token: str) -> None:
    """Prove an address with its verification token (single use; void after an email
    change); `VERIFICATION_TOKEN_INVALID` otherwise."""
    try:
        claims = decode_account_token(state.settings, token, "verify_email")
    except InvalidTokenError:
        raise AppError(ErrorCode.VERIFICATION_TOKEN_INVALID) from None
    if not await state.database.run(_verify, claims=claims):
        raise AppError(ErrorCode.VERIFICATION_TOKEN_INVALID)


def _due_for_a_mail(db: Session, *, user_id: uuid.UUID) -> bool:
    """Whether `user_id` is unverified and had no verification mail in RESEND_AFTER;
    if so, the mail about to go is noted."""
    now = utcnow()
    noted = db.exec(
        update(User)
        .where(col(User.id) == user_id, col(User.email_verified_at).is_(None))
        .where(
            (col(User.verification_sent_at).is_(None))
            | (col(User.verification_sent_at) <= now - RESEND_AFTER)
        )
        .values(verification_sent_at=now)
    )
    return noted.rowcount == 1


async def resend_verification(state: AppState, *, email: str, client: ClientInfo) -> Mail | None:
    """A new verification mail for `email`, at most one per RESEND_AFTER per account and
    within the reset-mail budgets; `None` when none goes (the answer is the same)."""
    settings: Settings = state.settings
    keys = throttle.reset_mail_keys(settings, email=email, ip_address=client.ip_address)
    keys = [(budget, f"verify-{key}") for budget, key in keys]
    user = await _budgeted_lookup(state, keys, email)
    if user is None or not await state.database.run(_due_for_a_mail, user_id=user.id):
        return None
    token = create_verification_token(settings, user_id=user.id, email=user.email)
    return Mail("verify", user.email, token)
