"""Two-factor sign-in with TOTP (RFC 6238): enrolment, confirmation, sign-in with a
code, recovery codes, disabling. No HTTP here.

* An enrolment starts (the password proven) with a new secret, stored encrypted
  (`app.core.encryption`), and is confirmed by a first code; confirming gives ten
  single-use recovery codes, stored as SHA-256 hashes, shown that once.
* A sign-in of an enrolled account (`sign_in.sign_in`) answers a challenge token
  instead of a session; `complete_sign_in` trades it and a code for the session.
* A code is accepted for the current 30-second step or the one before or after
  (clock drift), and only for a step later than the last accepted one, in one
  conditional UPDATE: no code works twice, even sent twice at once. A recovery
  code stands in for a code once (another conditional UPDATE).
* Every code check is reserved against the sign-in budgets first (`throttle`, per
  account and per client address), like a password check: wrong codes count as
  failed sign-ins, and a refused check is committed before the refusal is raised.

The secret appears in one answer only (the start of an enrolment) and in the back
office's enrolment page until confirmed: never in a log line or an audit event.
"""

import hashlib
import hmac
import re
import secrets
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Literal, NoReturn

import pyotp
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select, update

from app.core import metrics
from app.core.config import Settings
from app.core.context import ANONYMOUS
from app.core.encryption import DecryptionError, SecretBox
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
from app.services import audit, sessions, sign_in, throttle
from app.services.audit import AuditAction, Outcome
from app.services.sessions import ClientInfo

PURPOSE = "totp-secret"  # what the encryption key is derived for
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to mix up
RECOVERY_CODE_CHARS = 10  # ~49 bits, tried at most 5 times per 15 minutes
DRIFT_STEPS = 1  # codes of the step before and after the current one are accepted
TOTP_CODE = re.compile(r"[0-9]{6}")

Method = Literal["totp", "recovery_code"]


@lru_cache(maxsize=8)
def _box(keys: tuple[str, ...]) -> SecretBox:
    return SecretBox(list(keys), purpose=PURPOSE)


def secret_box(settings: Settings) -> SecretBox:
    """What encrypts and decrypts TOTP secrets with the configured keys."""
    return _box(tuple(settings.two_factor_keys))


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


def otpauth_uri(settings: Settings, user: User, secret: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app reads (from a QR code)."""
    issuer = settings.two_factor_issuer or settings.app_name
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def enrolment_of(settings: Settings, user: User, factor: TotpFactor) -> TwoFactorEnrolment:
    """What to add to an authenticator app for a pending `factor`."""
    secret = _secret(settings, factor)
    return TwoFactorEnrolment(secret=secret, otpauth_uri=otpauth_uri(settings, user, secret))


def _secret(settings: Settings, factor: TotpFactor) -> str:
    try:
        return secret_box(settings).decrypt(factor.secret_encrypted, context=str(factor.user_id))
    except DecryptionError:
        # The key that encrypted it is gone: the factor cannot be used (an admin can
        # turn it off, or the user with a recovery code).
        raise AppError(ErrorCode.TWO_FACTOR_CODE_INVALID) from None


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
    encrypted = secret_box(settings).encrypt(secret, context=str(user.id))
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
    return TwoFactorEnrolment(secret=secret, otpauth_uri=otpauth_uri(settings, user, secret))


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (current, or one off for drift) whose code is `code`, if any."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _use_totp(
    db: Session, settings: Settings, factor: TotpFactor, code: str, *, confirmed: bool
) -> bool:
    """Accept `code` for `factor` if it is right and of a later step than the last
    accepted: one conditional UPDATE, so a code is accepted once even when sent
    twice at once."""
    step = _matching_step(_secret(settings, factor), code, utcnow())
    if step is None:
        return False
    last = col(TotpFactor.last_used_step)
    state = col(TotpFactor.confirmed_at)
    result = db.exec(
        update(TotpFactor)
        .where(
            col(TotpFactor.user_id) == factor.user_id,
            state.is_not(None) if confirmed else state.is_(None),
            last.is_(None) | (last < step),
        )
        .values(last_used_step=step)
    )
    return result.rowcount == 1


def hash_recovery_code(code: str) -> str:
    """The stored form of a recovery code: SHA-256 of its letters (case, spaces and
    dashes do not matter)."""
    letters = re.sub(r"[\s-]", "", code).lower()
    return hashlib.sha256(f"recovery:{letters}".encode()).hexdigest()


def _use_recovery_code(db: Session, user_id: uuid.UUID, code: str) -> bool:
    """Spend one of `user_id`'s recovery codes if `code` is an unused one (one
    conditional UPDATE: a code works once, even sent twice at once)."""
    result = db.exec(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.code_hash) == hash_recovery_code(code),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=utcnow())
    )
    return result.rowcount == 1


def _refuse(
    db: Session, action: AuditAction, user: User, *, reason: str, status: int | None = None
) -> NoReturn:
    """Record a refused code (its throttle settled), commit both, and refuse."""
    audit.record(db, action, outcome=Outcome.FAILURE, reason=reason, target=user)
    db.commit()
    raise AppError(ErrorCode.TWO_FACTOR_CODE_INVALID, status=status)


def _prove(
    db: Session,
    settings: Settings,
    user: User,
    factor: TotpFactor,
    *,
    code: str,
    ip_address: str | None,
    confirmed: bool = True,
    recovery: bool = True,
) -> Method | None:
    """Check `code` (a TOTP code, or with `recovery` a recovery code) under the
    sign-in throttle: 429 once throttled; `None` when wrong, the failure counted."""
    keys = throttle.two_factor_keys(settings, user_id=str(user.id), ip_address=ip_address)
    try:
        reservation = throttle.reserve(db, keys, now=utcnow())
    except AppError:
        metrics.count_sign_in("throttled")
        raise
    method: Method | None = None
    if TOTP_CODE.fullmatch(code):
        if _use_totp(db, settings, factor, code, confirmed=confirmed):
            method = "totp"
    elif recovery and _use_recovery_code(db, user.id, code):
        method = "recovery_code"
    throttle.settle(db, reservation, failed=method is None)
    if method == "recovery_code":
        audit.record(db, AuditAction.RECOVERY_CODE_USED, target=user)
    return method


def _new_recovery_codes(db: Session, user_id: uuid.UUID) -> list[str]:
    """Ten new recovery codes for `user_id` (the former ones deleted), in clear once."""
    db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        letters = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_CHARS))
        code = f"{letters[:5]}-{letters[5:]}"
        db.add(RecoveryCode(user_id=user_id, code_hash=hash_recovery_code(code)))
        codes.append(code)
    return codes


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
    method = _prove(
        db, settings, user, factor, code=code, ip_address=ip_address, confirmed=False,
        recovery=False,
    )  # fmt: skip
    if method is None:
        _refuse(db, AuditAction.TWO_FACTOR_ENABLED, user, reason="bad_code")
    now = utcnow()
    db.exec(
        update(TotpFactor)
        .where(col(TotpFactor.user_id) == user.id, col(TotpFactor.confirmed_at).is_(None))
        .values(confirmed_at=now)
    )
    codes = _new_recovery_codes(db, user.id)
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
    if _prove(db, settings, user, factor, code=code, ip_address=ip_address) is None:
        _refuse(db, AuditAction.TWO_FACTOR_DISABLED, user, reason="bad_code")
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
    method = _prove(db, settings, user, factor, code=code, ip_address=client.ip_address)
    if method is None:
        metrics.count_sign_in("bad_code")
        _refuse(db, AuditAction.LOGIN_FAILED, user, reason="bad_code", status=401)
    reencrypt_if_needed(db, settings, factor)
    pair, session_id = sessions.open_session(
        db, user, settings=settings, client=client, two_factor=True
    )
    actor = audit.acting(user, credential_id=session_id)
    audit.record(db, AuditAction.LOGIN_SUCCEEDED, reason=method, actor=actor, target=user)
    metrics.count_sign_in("success")
    return pair


def reencrypt_if_needed(db: Session, settings: Settings, factor: TotpFactor) -> None:
    """Encrypt `factor`'s secret again with the current key, if an older one did."""
    box = secret_box(settings)
    if box.needs_new_key(factor.secret_encrypted):
        secret = _secret(settings, factor)
        db.exec(
            update(TotpFactor)
            .where(col(TotpFactor.user_id) == factor.user_id)
            .values(secret_encrypted=box.encrypt(secret, context=str(factor.user_id)))
        )
