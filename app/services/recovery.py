"""Links sent by mail: password reset, and email verification.

Asking for a link answers the same whether or not the address has an account, and
mails are limited per address and per client address. A link's token is bound to
what it may change (the account's email and how many times it changed, and the
password for a reset), so it works once, and no more once either changed, even back.
Using it is one conditional UPDATE: two uses at once cannot both succeed. The API
never acts on a GET: the link opens the frontend, which posts the token. No HTTP here.
"""

import uuid
from datetime import timedelta
from typing import Literal

from sqlmodel import Session, col, select, update

from app.core.config import Settings
from app.core.context import ANONYMOUS
from app.core.errors import AppError, ErrorCode
from app.core.passwords import PasswordHasher
from app.core.tokens import (
    AccountClaims,
    InvalidTokenError,
    create_reset_token,
    create_verification_token,
    decode_account_token,
    matches,
    reset_fingerprint,
    verification_fingerprint,
)
from app.models import User
from app.models.fields import utcnow
from app.services import accounts, audit, throttle
from app.services.audit import AuditAction
from app.services.mail import Mail
from app.services.sessions import ClientInfo
from app.services.throttle import Keys

RESEND_AFTER = timedelta(seconds=60)
MailedToken = Literal["reset", "verify_email"]


def _budgeted_lookup(db: Session, keys: Keys, email: str) -> User | None:
    """The active account of `email`, if any and if a mail may go (else `None`, and
    the spent budget is rolled back)."""
    try:
        throttle.spend(db, keys, now=utcnow())
    except AppError as error:
        if error.code is not ErrorCode.TOO_MANY_ATTEMPTS:  # pragma: no cover - spend raises 429s
            raise
        db.rollback()
        return None
    user = accounts.find_by_email(db, email)
    return user if user is not None and user.is_active else None


def reset_mail(db: Session, settings: Settings, *, email: str, client: ClientInfo) -> Mail | None:
    """The password reset mail for `email`, or `None` when no active account uses it or
    its mail budget is spent."""
    keys = throttle.reset_mail_keys(settings, email=email, ip_address=client.ip_address)
    user = _budgeted_lookup(db, keys, email)
    if user is None:
        return None
    audit.record(db, AuditAction.PASSWORD_RESET_REQUESTED, actor=ANONYMOUS, target=user)
    return _reset_mail(settings, user)


def reset_mail_for(
    db: Session, settings: Settings, *, user_id: uuid.UUID, client: ClientInfo
) -> Mail:
    """The password reset mail of the account `user_id`, asked for by an admin (the
    session's actor): the token, mail and budgets of `reset_mail`, but a refusal is
    said: `USER_NOT_FOUND`, `ACCOUNT_DISABLED`, or `TOO_MANY_ATTEMPTS` once a budget
    is spent (the caller then rolls back)."""
    user = accounts.get_user(db, user_id)
    if not user.is_active:
        raise AppError(ErrorCode.ACCOUNT_DISABLED)
    keys = throttle.reset_mail_keys(settings, email=user.email, ip_address=client.ip_address)
    throttle.spend(db, keys, now=utcnow())
    audit.record(db, AuditAction.PASSWORD_RESET_REQUESTED, target=user)
    return _reset_mail(settings, user)


def _reset_mail(settings: Settings, user: User) -> Mail:
    token = create_reset_token(
        settings,
        user_id=user.id,
        email=user.email,
        email_changes=user.email_changes,
        password_hash=user.password_hash,
    )
    return Mail("reset", user.email, token)


def _active_user(db: Session, claims: AccountClaims) -> User | None:
    return db.exec(
        select(User).where(col(User.id) == claims.user_id, col(User.is_active).is_(True))
    ).first()


def _fingerprint(purpose: MailedToken, key: str, user: User) -> str:
    """What a mailed token of `purpose` must still be bound to for `user`."""
    if purpose == "reset":
        return reset_fingerprint(
            key,
            email=user.email,
            email_changes=user.email_changes,
            password_hash=user.password_hash,
        )
    return verification_fingerprint(key, email=user.email, email_changes=user.email_changes)


def _mailed_account(
    db: Session, settings: Settings, token: str, purpose: MailedToken, refusal: ErrorCode
) -> User:
    """The active account of a mailed token that still fits it (for a reset: its
    email and password unchanged since; for a verification: its email), else
    `refusal`."""
    try:
        claims = decode_account_token(settings, token, purpose)
    except InvalidTokenError:
        raise AppError(refusal) from None
    user = _active_user(db, claims)
    if user is None or not matches(claims, _fingerprint(purpose, claims.key, user)):
        raise AppError(refusal)
    return user


def _reset_account(db: Session, settings: Settings, token: str) -> User:
    return _mailed_account(db, settings, token, "reset", ErrorCode.RESET_TOKEN_INVALID)


def reset_password(
    db: Session, hasher: PasswordHasher, settings: Settings, *, token: str, new_password: str
) -> None:
    """Set a new password with a reset token: every session and API token of the user
    ends, and their address counts as verified. The token is checked again after
    hashing (with no connection held meanwhile), in the same statement as the change,
    so two uses at once cannot both succeed."""
    _reset_account(db, settings, token)  # a bad token costs no bcrypt work
    db.commit()
    password_hash = hasher.hash(new_password)
    user = _reset_account(db, settings, token)
    if not accounts.set_password(
        db,
        user,
        password_hash=password_hash,
        expected_hash=user.password_hash,
        expected_email=user.email,
        revoke_tokens=True,
    ):
        raise AppError(ErrorCode.RESET_TOKEN_INVALID)
    if user.email_verified_at is None:  # the mail reached its owner: the address is theirs
        user.email_verified_at = utcnow()
        db.add(user)
    audit.record(db, AuditAction.PASSWORD_RESET_COMPLETED, actor=ANONYMOUS, target=user)


def verify_email(db: Session, settings: Settings, *, token: str) -> None:
    """Prove an address with its verification token (single use; void after an email
    change); `VERIFICATION_TOKEN_INVALID` otherwise."""
    invalid = ErrorCode.VERIFICATION_TOKEN_INVALID
    user = _mailed_account(db, settings, token, "verify_email", invalid)
    verified = db.exec(
        update(User)
        .where(col(User.id) == user.id, col(User.email_verified_at).is_(None))
        .values(email_verified_at=utcnow())
    )
    if verified.rowcount != 1:
        raise AppError(invalid)
    audit.record(db, AuditAction.EMAIL_VERIFIED, actor=audit.acting(user), target=user)


def _due_for_a_mail(db: Session, user: User) -> bool:
    """Whether `user` is unverified and had no verification mail in RESEND_AFTER; if
    so, the mail about to go is noted."""
    now = utcnow()
    noted = db.exec(
        update(User)
        .where(col(User.id) == user.id, col(User.email_verified_at).is_(None))
        .where(
            (col(User.verification_sent_at).is_(None))
            | (col(User.verification_sent_at) <= now - RESEND_AFTER)
        )
        .values(verification_sent_at=now)
    )
    return noted.rowcount == 1


def resend_verification(
    db: Session, settings: Settings, *, email: str, client: ClientInfo
) -> Mail | None:
    """A new verification mail for `email`, at most one per RESEND_AFTER per account and
    within the reset-mail budgets; `None` when none goes (the answer is the same)."""
    keys = throttle.reset_mail_keys(settings, email=email, ip_address=client.ip_address)
    keys = [(budget, f"verify-{key}") for budget, key in keys]
    user = _budgeted_lookup(db, keys, email)
    if user is None or not _due_for_a_mail(db, user):
        return None
    token = create_verification_token(
        settings, user_id=user.id, email=user.email, email_changes=user.email_changes
    )
    return Mail("verify", user.email, token)
