"""Open sign-up: an account anyone may create, when ALLOW_REGISTRATION is on. No HTTP here."""

from sqlmodel import Session

from app.core.config import Settings
from app.core.errors import AppError, ErrorCode
from app.core.passwords import PasswordHasher
from app.models import User, UserRegister
from app.services import accounts
from app.services.mail import Mail, verification_mail

# Registration answers a taken email with 400 (its original contract), not 409.
REGISTRATION_TAKEN_STATUS = 400


def register(
    db: Session, hasher: PasswordHasher, settings: Settings, *, user_in: UserRegister
) -> tuple[User, Mail | None]:
    """An account with role USER, and the mail that verifies its address when
    verification is required (otherwise the address counts as verified, so turning
    verification on later locks nobody out). A taken email costs no bcrypt work."""
    if not settings.allow_registration:
        raise AppError(ErrorCode.REGISTRATION_DISABLED)
    accounts.ensure_email_free(db, user_in.email, status=REGISTRATION_TAKEN_STATUS)
    db.commit()  # no connection is held while bcrypt runs
    verified = not settings.require_email_verification
    user = accounts.create_user(
        db,
        user_in=user_in,
        password_hash=hasher.hash(user_in.password),
        verified=verified,
        taken_status=REGISTRATION_TAKEN_STATUS,
    )
    if not verified:
        user.verification_sent_at = user.created_at
    return user, verification_mail(settings, user)
