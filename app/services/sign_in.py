"""Checking passwords: signing in, and proving one's current password.

Every password check is reserved against the sign-in budgets before bcrypt runs
(`throttle`), so no burst of guesses is ever checked past the limit; the reservation
is committed first, so no connection is held while bcrypt runs, and the check then
settles in a second short transaction. An unknown email costs the same check as a
known one and gets the same answer as a wrong password. These run on a hashing thread
(the routes that call them take the `Hasher`). How a sign-in ends once credentials
are proven (`refusal_of`, `refuse`, `proceed`) is shared with the sign-in through a
provider (`provider_sign_in`). No HTTP here.
"""

from dataclasses import dataclass
from typing import NoReturn

from sqlmodel import Session

from app.core import metrics
from app.core.config import Settings
from app.core.context import ANONYMOUS
from app.core.errors import AppError, ErrorCode
from app.core.passwords import PasswordHasher
from app.core.tokens import create_challenge_token
from app.models import Role, TotpFactor, TwoFactorChallenge, User
from app.models.fields import utcnow
from app.models.payloads import LoginRequest, TokenPair
from app.services import accounts, audit, sessions, throttle
from app.services.audit import AuditAction, Outcome
from app.services.sessions import ClientInfo


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a sign-in is refused: the answer's code, and the audit log's reason."""

    code: ErrorCode
    reason: str


BAD_CREDENTIALS = Refusal(ErrorCode.LOGIN_BAD_CREDENTIALS, "bad_credentials")
DISABLED = Refusal(ErrorCode.ACCOUNT_DISABLED, "account_disabled")
NOT_VERIFIED = Refusal(ErrorCode.EMAIL_NOT_VERIFIED, "email_not_verified")


def refusal_of(
    settings: Settings, user: User | None, *, admin_only: bool = False
) -> Refusal | None:
    """Why a sign-in with checked credentials is refused (`user` is None when they
    did not match), if it is."""
    if user is None or (admin_only and user.role != Role.ADMIN):
        return BAD_CREDENTIALS
    if not user.is_active:
        return DISABLED
    if settings.require_email_verification and not user.email_verified:
        return NOT_VERIFIED
    return None


def refuse(db: Session, refusal: Refusal, user: User | None) -> NoReturn:
    """Record a refused sign-in (naming the account only if there is one: an unknown
    email is not stored), commit it with its settled check, and refuse."""
    audit.record(
        db, AuditAction.LOGIN_FAILED, outcome=Outcome.FAILURE, reason=refusal.reason,
        actor=ANONYMOUS, target=user,
    )  # fmt: skip
    db.commit()
    metrics.count_sign_in(refusal.reason)
    raise AppError(refusal.code)


def sign_in(
    db: Session,
    hasher: PasswordHasher,
    settings: Settings,
    *,
    credentials: LoginRequest,
    client: ClientInfo,
    admin_only: bool = False,
) -> TokenPair | TwoFactorChallenge:
    """Check credentials under throttling and open a session, or for an account that
    signs in with a second factor answer a challenge (`two_factor.complete_sign_in`
    takes it with a code). With `admin_only` (the back office), a right password of
    a non-admin gets the answer of a wrong one."""
    keys = throttle.sign_in_keys(settings, email=credentials.email, ip_address=client.ip_address)
    try:
        reservation = throttle.reserve(db, keys, now=utcnow())
    except AppError:
        metrics.count_sign_in("throttled")
        raise
    user = accounts.find_by_email(db, credentials.email)
    db.commit()  # the reservation holds; no connection is held while bcrypt runs
    matches = hasher.verify(credentials.password, user.password_hash if user else None)
    refusal = refusal_of(settings, user if matches else None, admin_only=admin_only)
    throttle.settle(db, reservation, failed=refusal is BAD_CREDENTIALS)
    if refusal is not None or user is None:
        refuse(db, refusal or BAD_CREDENTIALS, user)
    return proceed(db, settings, user, client=client)


def proceed(
    db: Session, settings: Settings, user: User, *, client: ClientInfo, method: str | None = None
) -> TokenPair | TwoFactorChallenge:
    """Sign in `user`, whose credentials were proven and who may sign in (`method`,
    for the audit log: how, when not by password): open a session, or answer a
    challenge when the account signs in with a second factor."""
    factor = db.get(TotpFactor, user.id)
    if factor is not None and factor.confirmed_at is not None:
        audit.record(db, AuditAction.LOGIN_CHALLENGED, reason=method, actor=ANONYMOUS, target=user)
        metrics.count_sign_in("two_factor_required")
        return _challenge(settings, user, factor)
    pair, session_id = sessions.open_session(db, user, settings=settings, client=client)
    actor = audit.acting(user, credential_id=session_id)
    audit.record(db, AuditAction.LOGIN_SUCCEEDED, reason=method, actor=actor, target=user)
    metrics.count_sign_in("success")
    return pair


def factor_binding(factor: TotpFactor) -> str:
    """What identifies one two-factor enrolment (a new one voids older challenges)."""
    confirmed_at = factor.confirmed_at.isoformat() if factor.confirmed_at else ""
    return f"{factor.user_id}\n{confirmed_at}"


def _challenge(settings: Settings, user: User, factor: TotpFactor) -> TwoFactorChallenge:
    """The challenge that a right password of an account with two-factor sign-in
    gets: a short-lived token bound to that password and enrolment."""
    token = create_challenge_token(
        settings, user_id=user.id, password_hash=user.password_hash, factor=factor_binding(factor)
    )
    return TwoFactorChallenge(
        challenge_token=token, expires_in=settings.two_factor_challenge_minutes * 60
    )


def confirm_password(
    db: Session, hasher: PasswordHasher, settings: Settings, user: User, *, password: str,
    ip_address: str | None,
) -> None:  # fmt: skip
    """Prove that `password` is `user`'s; a wrong one is 400 and counts as a failed
    sign-in for the account (429 once throttled). Either way the check is committed,
    so no connection is held while bcrypt runs."""
    keys = throttle.sign_in_keys(settings, email=user.email, ip_address=ip_address)
    try:
        reservation = throttle.reserve(db, keys, now=utcnow())
    except AppError:
        metrics.count_sign_in("throttled")
        raise
    db.commit()
    matches = hasher.verify(password, user.password_hash)
    throttle.settle(db, reservation, failed=not matches)
    db.commit()
    if not matches:
        raise AppError(ErrorCode.CURRENT_PASSWORD_WRONG)
