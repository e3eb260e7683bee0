"""Two-factor sign-in with TOTP (RFC 6238): enrolment, confirmation, sign-in with a
code, recovery codes, disabling. No HTTP here; `totp_codes` keeps the secret and
accepts each code once.

* An enrolment starts (the password proven) with a new secret and is confirmed by a
  first code; confirming gives ten single-use recovery codes, shown that once.
* A sign-in of an enrolled account (`sign_in.sign_in`) answers a challenge token
  instead of a session; `complete_sign_in` trades it and a code for the session.
* Every code check is reserved against the sign-in budgets first (`throttle`, per
  account and per client address), like a password check: wrong codes count as
  failed sign-ins, and a refused check is committed before the refusal is raised.

The secret appears in one answer only (the start of an enrolment) and in the back
office's enrolment page until confirmed: never in a log line or an audit event.
"""

import uuid

import pyotp
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select, update

from app.core import metrics
from app.core.config import Settings
from app.core.context import ANONYMOUS
from app.core.errors import AppError, ErrorCode
from app.core.passwords import PasswordHasher
from app.core.tokens import (
    InvalidTokenError,
    challenge_fingerprint,
    decode_account_token,
    matches,
)
from app.models import (
    AuthSession,
    RecoveryCode,
    RecoveryCodes,
    Role,
    TotpFactor,
    TwoFactorEnrolment,
    TwoFactorStatus,
    User,
)
from app.models.fields import utcnow
from app.models.payloads import TokenPair
from app.services import audit, sessions, sign_in, totp_codes
from app.services.audit import AuditAction, Outcome
from app.services.sessions import ClientInfo


def factor_of(db: Session, user_id: uuid.UUID) -> TotpFactor | None:
    """`user_id`'s authenticator, confirmed or pending, if any."""
    return db.exec(select(TotpFactor).where(TotpFactor.user_id == user_id)).first()


def enabled_factor(db: Session, user_id: uuid.UUID) -> TotpFactor | None:
    """`user_id`'s confirmed authenticator, if two-factor sign-in is on."""
    factor = factor_of(db, user_id)
    return factor if factor is not None and factor.confirmed_at is not None else None


def is_enabled(db: Session, user_id: uuid.UUID) -> bool:
    """Whether `user_id` signs in with a second factor."""
    return enabled_factor(db, user_id) is not None


def status(db: Session, user: User) -> TwoFactorStatus:
    """Whether two-factor sign-in is on, pending, and how many recovery codes are left."""
    factor = factor_of(db, user.id)
    left = db.exec(
        select(sa.func.count())
        .select_from(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user.id, col(RecoveryCode.used_at).is_(None))
    ).one()
    confirmed_at = factor.confirmed_at if factor is not None else None
    return TwoFactorStatus(
        enabled=confirmed_at is not None,
        pending=factor is not None and confirmed_at is None,
        enabled_at=confirmed_at,
        recovery_codes_left=left if confirmed_at is not None else 0,
    )


def enrolment_of(settings: Settings, user: User, factor: TotpFactor) -> TwoFactorEnrolment:
    """What to add to an authenticator app for a pending `factor`."""
    secret = totp_codes.secret_of(settings, factor)
    return TwoFactorEnrolment(
        secret=secret, otpauth_uri=totp_codes.otpauth_uri(settings, user, secret)
    )


def _upsert(db: Session, row: dict[str, object]) -> postgresql.Insert | sqlite.Insert:
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(TotpFactor).values(**row)


def start_enrolment(
    db: Session,
    hasher: PasswordHasher,
    settings: Settings,
    user: User,
    *,
    current_password: str,
    ip_address: str | None,
) -> TwoFactorEnrolment:
    """A new secret for `user` (their password proven first, as a sign-in checks it),
    pending until a code confirms it; a pending enrolment is replaced. Refused while
    two-factor sign-in is on. One upsert, so enrolments started at once leave one."""
    sign_in.confirm_password(
        db, hasher, settings, user, password=current_password, ip_address=ip_address
    )
    secret = pyotp.random_base32()
    encrypted = totp_codes.secret_box(settings).encrypt(secret, context=str(user.id))
    now = utcnow()
    upsert = _upsert(db, {"user_id": user.id, "secret_encrypted": encrypted, "created_at": now})
    statement = upsert.on_conflict_do_update(
        index_elements=["user_id"],
        set_={"secret_encrypted": encrypted, "created_at": now, "last_used_step": None},
        where=col(TotpFactor.confirmed_at).is_(None),
    ).returning(col(TotpFactor.user_id))
    if db.execute(statement).scalar_one_or_none() is None:
        raise AppError(ErrorCode.TWO_FACTOR_ALREADY_ENABLED)
    audit.record(db, AuditAction.TWO_FACTOR_ENROLMENT_STARTED, target=user)
    return TwoFactorEnrolment(
        secret=secret, otpauth_uri=totp_codes.otpauth_uri(settings, user, secret)
    )


def confirm_enrolment(
    db: Session,
    settings: Settings,
    user: User,
    *,
    code: str,
    session_id: uuid.UUID | None,
    ip_address: str | None,
) -> RecoveryCodes:
    """Turn two-factor sign-in on with a first code from the pending enrolment's
    secret; returns the recovery codes (shown once). The session `session_id` has
    now proven a second factor."""
    factor = factor_of(db, user.id)
    if factor is not None and factor.confirmed_at is not None:
        raise AppError(ErrorCode.TWO_FACTOR_ALREADY_ENABLED)
    if factor is None:
        raise AppError(ErrorCode.TWO_FACTOR_NOT_PENDING)
    method = totp_codes.prove(
        db, settings, user, factor, code=code, ip_address=ip_address, confirmed=False,
        recovery=False,
    )  # fmt: skip
    if method is None:
        totp_codes.refuse(db, AuditAction.TWO_FACTOR_ENABLED, user, reason="bad_code")
    now = utcnow()
    db.exec(
        update(TotpFactor)
        .where(col(TotpFactor.user_id) == user.id, col(TotpFactor.confirmed_at).is_(None))
        .values(confirmed_at=now)
    )
    codes = totp_codes.new_recovery_codes(db, user.id)
    if session_id is not None:
        _mark_session(db, session_id, two_factor=True)
    audit.record(db, AuditAction.TWO_FACTOR_ENABLED, target=user)
    return RecoveryCodes(recovery_codes=codes)


def _mark_session(db: Session, session_id: uuid.UUID, *, two_factor: bool) -> None:
    db.exec(
        update(AuthSession).where(col(AuthSession.id) == session_id).values(two_factor=two_factor)
    )


def _remove(db: Session, user_id: uuid.UUID) -> None:
    """Two-factor sign-in off for `user_id`: no authenticator, no recovery codes, and
    no session counts as signed in with a second factor any more."""
    db.exec(delete(TotpFactor).where(col(TotpFactor.user_id) == user_id))
    db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    db.exec(update(AuthSession).where(col(AuthSession.user_id) == user_id).values(two_factor=False))


def disable(
    db: Session,
    hasher: PasswordHasher,
    settings: Settings,
    user: User,
    *,
    current_password: str,
    code: str,
    ip_address: str | None,
) -> None:
    """Turn two-factor sign-in off, with the password and a code (or a recovery
    code), each checked under the sign-in throttle."""
    factor = enabled_factor(db, user.id)
    if factor is None:
        raise AppError(ErrorCode.TWO_FACTOR_NOT_ENABLED)
    sign_in.confirm_password(
        db, hasher, settings, user, password=current_password, ip_address=ip_address
    )
    if totp_codes.prove(db, settings, user, factor, code=code, ip_address=ip_address) is None:
        totp_codes.refuse(db, AuditAction.TWO_FACTOR_DISABLED, user, reason="bad_code")
    _remove(db, user.id)
    audit.record(db, AuditAction.TWO_FACTOR_DISABLED, target=user)


def reset_for(db: Session, *, user_id: uuid.UUID) -> None:
    """An admin turns `user_id`'s two-factor sign-in off (a lost authenticator and
    lost recovery codes); `TWO_FACTOR_NOT_ENABLED` when it is off."""
    user = db.get(User, user_id)
    if user is None:
        raise AppError(ErrorCode.USER_NOT_FOUND)
    if factor_of(db, user_id) is None:
        raise AppError(ErrorCode.TWO_FACTOR_NOT_ENABLED)
    _remove(db, user_id)
    audit.record(db, AuditAction.TWO_FACTOR_DISABLED, reason="reset_by_admin", target=user)


# Signing in


def _challenged(
    db: Session, settings: Settings, challenge_token: str, *, admin_only: bool
) -> tuple[User, TotpFactor]:
    """The account a valid challenge token was issued to, and its enrolment; the
    token must be a two-factor challenge, unexpired, signed with a configured key,
    and still bound to the account's password and enrolment."""
    refused = AppError(ErrorCode.TWO_FACTOR_CHALLENGE_INVALID)
    try:
        claims = decode_account_token(settings, challenge_token, "two_factor")
    except InvalidTokenError:
        raise refused from None
    user = db.get(User, claims.user_id)
    factor = enabled_factor(db, claims.user_id)
    if user is None or factor is None or (admin_only and user.role != Role.ADMIN):
        raise refused
    bound = challenge_fingerprint(
        claims.key, password_hash=user.password_hash, factor=sign_in.factor_binding(factor)
    )
    if not matches(claims, bound):
        raise refused
    return user, factor


def complete_sign_in(
    db: Session,
    settings: Settings,
    *,
    challenge_token: str,
    code: str,
    client: ClientInfo,
    admin_only: bool = False,
) -> TokenPair:
    """Trade a challenge token and a code (or a recovery code) for a session signed
    in with a second factor. A wrong code is 401 and counts as a failed sign-in."""
    user, factor = _challenged(db, settings, challenge_token, admin_only=admin_only)
    if not user.is_active:
        audit.record(
            db, AuditAction.LOGIN_FAILED, outcome=Outcome.FAILURE, reason="account_disabled",
            actor=ANONYMOUS, target=user,
        )  # fmt: skip
        db.commit()
        raise AppError(ErrorCode.ACCOUNT_DISABLED)
    method = totp_codes.prove(db, settings, user, factor, code=code, ip_address=client.ip_address)
    if method is None:
        metrics.count_sign_in("bad_code")
        totp_codes.refuse(db, AuditAction.LOGIN_FAILED, user, reason="bad_code", status=401)
    totp_codes.reencrypt_if_needed(db, settings, factor)
    pair, session_id = sessions.open_session(
        db, user, settings=settings, client=client, two_factor=True
    )
    actor = audit.acting(user, credential_id=session_id)
    audit.record(db, AuditAction.LOGIN_SUCCEEDED, reason=method, actor=actor, target=user)
    metrics.count_sign_in("success")
    return pair
