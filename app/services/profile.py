"""The caller's own account: their name and email, and their password.

A new email needs the current password and a signed-in session (an API token never
sets an email), and gets its verification mail when verification is required. A
password change needs the current one and signs the caller's other sessions out. The
current password is checked as a sign-in is (`sign_in`), and hashing runs with no
connection held. No HTTP here.
"""

import uuid
from typing import Any

from sqlmodel import Session

from app.core.config import Settings
from app.core.errors import AppError, ErrorCode
from app.core.passwords import PasswordHasher
from app.models import User
from app.services import accounts, audit, sign_in
from app.services.audit import AuditAction
from app.services.mail import Mail, verification_mail


def update_profile(
    db: Session,
    hasher: PasswordHasher,
    settings: Settings,
    user: User,
    *,
    session_id: uuid.UUID | None,
    changes: dict[str, Any],
    current_password: str | None,
    ip_address: str | None,
) -> tuple[User, Mail | None]:
    """Apply `changes` (name, email) to `user`, signed in with the session
    `session_id` (None for an API token); a new email needs `current_password` and
    gets the mail that verifies it."""
    if "email" in changes:
        if session_id is None:
            raise AppError(ErrorCode.API_TOKEN_NOT_ALLOWED)
        if current_password is None:  # the request model makes sure it is there
            raise AppError(ErrorCode.CURRENT_PASSWORD_WRONG)
        sign_in.confirm_password(
            db, hasher, settings, user, password=current_password, ip_address=ip_address
        )
    verification_required = settings.require_email_verification
    user = accounts.update_user(
        db, user, changes=changes, verification_required=verification_required
    )
    return user, verification_mail(settings, user) if "email" in changes else None


def change_password(
    db: Session,
    hasher: PasswordHasher,
    settings: Settings,
    user: User,
    *,
    session_id: uuid.UUID,
    current_password: str,
    new_password: str,
    ip_address: str | None,
) -> None:
    """Set `user`'s password once `current_password` is proven; their other sessions
    are signed out (`session_id`, the one asking, stays)."""
    sign_in.confirm_password(
        db, hasher, settings, user, password=current_password, ip_address=ip_address
    )
    changed = accounts.set_password(
        db,
        user,
        password_hash=hasher.hash(new_password),
        expected_hash=user.password_hash,
        keep_session=session_id,
    )
    if not changed:  # another change won meanwhile: this current password is stale
        raise AppError(ErrorCode.CURRENT_PASSWORD_WRONG)
    audit.record(db, AuditAction.PASSWORD_CHANGED, target=user)
