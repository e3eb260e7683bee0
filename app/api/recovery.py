"""Routes whose token comes by mail (`/auth`): password reset and email verification.

Asking for a link always answers 202 with the same body, so the answer reveals no
account; using a link is a POST from the frontend page it opens (mail scanners that
prefetch links change nothing).
"""

from app.api.deps import Client, Hasher, OutboxDep, SessionDep, SettingsDep
from app.api.routing import feature_router
from app.core.errors import ErrorCode, responses
from app.models.payloads import (
    EmailVerification,
    Message,
    PasswordResetConfirm,
    PasswordResetRequest,
    VerificationRequest,
)
from app.services import recovery

router = feature_router("/auth", "auth")
RESET_REQUESTED = "If that email belongs to an account, a password reset link is on its way."
VERIFICATION_REQUESTED = (
    "If that email belongs to an account still to be verified, a new link is on its way."
)


@router.post("/password-reset", status_code=202, operation_id="auth-password-reset-request")
def request_password_reset(
    body: PasswordResetRequest,
    db: SessionDep,
    settings: SettingsDep,
    client: Client,
    outbox: OutboxDep,
) -> Message:
    """Email a single-use reset link (valid for PASSWORD_RESET_EXPIRE_MINUTES).

    The answer is the same whether or not the email belongs to an account.
    """
    outbox.send(recovery.reset_mail(db, settings, email=body.email, client=client))
    return Message(detail=RESET_REQUESTED)


@router.post(
    "/password-reset/confirm", status_code=204, operation_id="auth-password-reset-confirm",
    responses=responses(ErrorCode.RESET_TOKEN_INVALID),
)  # fmt: skip
def confirm_password_reset(
    body: PasswordResetConfirm, db: SessionDep, hasher: Hasher, settings: SettingsDep
) -> None:
    """Set a new password with a reset token; every session and API token of the user
    ends.

    The token is bound to the email and password it was issued for: it dies once used.
    """
    recovery.reset_password(db, hasher, settings, token=body.token, new_password=body.new_password)


BAD_LINK = responses(ErrorCode.VERIFICATION_TOKEN_INVALID)


@router.post("/verify-email", status_code=204, operation_id="auth-verify-email", responses=BAD_LINK)
def verify_email(body: EmailVerification, db: SessionDep, settings: SettingsDep) -> None:
    """Prove an email address with the token its verification mail carried (once; a
    token issued before an email change no longer works)."""
    recovery.verify_email(db, settings, token=body.token)


@router.post("/verify-email/resend", status_code=202, operation_id="auth-verify-email-resend")
def resend_verification(
    body: VerificationRequest,
    db: SessionDep,
    settings: SettingsDep,
    client: Client,
    outbox: OutboxDep,
) -> Message:
    """Email a new verification link (at most one a minute per account).

    The answer is the same whether or not the email belongs to such an account.
    """
    outbox.send(recovery.resend_verification(db, settings, email=body.email, client=client))
    return Message(detail=VERIFICATION_REQUESTED)
