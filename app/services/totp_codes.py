"""The authenticator's secret and codes: the secret encrypted at rest
(`app.core.encryption`, a key derived for this purpose), a TOTP code accepted for the
current 30-second step or one off (clock drift) and only for a step later than the
last accepted one, recovery codes stored as SHA-256 hashes and spent once. Each
acceptance is one conditional UPDATE, so a code sent twice at once works once, and
each check is reserved against the sign-in throttle first. No HTTP here;
`two_factor` holds the use cases.
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
from sqlmodel import Session, col, delete, update

from app.core import metrics
from app.core.config import Settings
from app.core.encryption import DecryptionError, SecretBox
from app.core.errors import AppError, ErrorCode
from app.models import RecoveryCode, TotpFactor, User
from app.models.fields import utcnow
from app.services import audit, throttle
from app.services.audit import AuditAction, Outcome

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


def otpauth_uri(settings: Settings, user: User, secret: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app reads (from a QR code)."""
    issuer = settings.two_factor_issuer or settings.app_name
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def secret_of(settings: Settings, factor: TotpFactor) -> str:
    try:
        return secret_box(settings).decrypt(factor.secret_encrypted, context=str(factor.user_id))
    except DecryptionError:
        # The key that encrypted it is gone: the factor cannot be used (an admin can
        # turn it off, or the user with a recovery code).
        raise AppError(ErrorCode.TWO_FACTOR_CODE_INVALID) from None


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (current, or one off for drift) whose code is `code`, if any."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def use_totp(
    db: Session, settings: Settings, factor: TotpFactor, code: str, *, confirmed: bool
) -> bool:
    """Accept `code` for `factor` if it is right and of a later step than the last
    accepted: one conditional UPDATE, so a code is accepted once even when sent
    twice at once."""
    step = matching_step(secret_of(settings, factor), code, utcnow())
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


def use_recovery_code(db: Session, user_id: uuid.UUID, code: str) -> bool:
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


def new_recovery_codes(db: Session, user_id: uuid.UUID) -> list[str]:
    """Ten new recovery codes for `user_id` (the former ones deleted), in clear once."""
    db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        letters = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_CHARS))
        code = f"{letters[:5]}-{letters[5:]}"
        db.add(RecoveryCode(user_id=user_id, code_hash=hash_recovery_code(code)))
        codes.append(code)
    return codes


def reencrypt_if_needed(db: Session, settings: Settings, factor: TotpFactor) -> None:
    """Encrypt `factor`'s secret again with the current key, if an older one did."""
    box = secret_box(settings)
    if box.needs_new_key(factor.secret_encrypted):
        secret = secret_of(settings, factor)
        db.exec(
            update(TotpFactor)
            .where(col(TotpFactor.user_id) == factor.user_id)
            .values(secret_encrypted=box.encrypt(secret, context=str(factor.user_id)))
        )


def refuse(
    db: Session, action: AuditAction, user: User, *, reason: str, status: int | None = None
) -> NoReturn:
    """Record a refused code (its throttle settled), commit both, and refuse."""
    audit.record(db, action, outcome=Outcome.FAILURE, reason=reason, target=user)
    db.commit()
    raise AppError(ErrorCode.TWO_FACTOR_CODE_INVALID, status=status)


def prove(
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
        if use_totp(db, settings, factor, code, confirmed=confirmed):
            method = "totp"
    elif recovery and use_recovery_code(db, user.id, code):
        method = "recovery_code"
    throttle.settle(db, reservation, failed=method is None)
    if method == "recovery_code":
        audit.record(db, AuditAction.RECOVERY_CODE_USED, target=user)
    return method
