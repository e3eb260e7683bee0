"""Routes whose token comes by mail (`/auth`): password reset and email verification.

Asking for a link always answers 202 with the same body, so the answer reveals no
account; using a link is a POST from the frontend page it opens (mail scanners that
prefetch links change nothing). Thin routes: the rules are in `recovery`.
"""

from fastapi import APIRouter, BackgroundTasks

from app import mail, recovery
from app.deps import Client, State
from app.errors import ErrorCode, responses
from app.mail import Mail
from app.payloads import (
    EmailVerification,
    Message,
    PasswordResetConfirm,
    PasswordResetRequest,
    VerificationRequest,
)
from app.state import AppState

router = APIRouter(prefix="/auth", tags=["auth"])
RESET_REQUESTED = "If that email belongs to an account, a password reset link is on its way."
VERIFICATION_REQUESTED = (
    "If that email belongs to an account still to be verified, a new link is on its way."
)


def _send(state: AppState, background: BackgroundTasks, link: Mail | None) -> None:
    if link is not None:
        background.add_task(mail.send, state.settings, link)


@router.post("/password-reset", status_code=202, operation_id="auth-password-reset-request")
async def request_password_reset(
    body: PasswordResetRequest, state: State, client: Client, background: BackgroundTasks
) -> Message:
    """Email a single-use reset link (valid for PASSWORD_RESET_EXPIRE_MINUTES).

    The answer is the same whether or not the email belongs to an account.
    """
    _send(state, background, await recovery.reset_mail(state, email=body.email, client=client))
    return Message(detail=RESET_REQUESTED)


@router.post(
    "/password-reset/confirm", status_code=204, operation_id="auth-password-reset-confirm",
    responses=responses(ErrorCode.RESET_TOKEN_INVALID),
)  # fmt: skip
async def confirm_password_reset(body: PasswordResetConfirm, state: State) -> None:
    """Set a new password with a reset token; every session and API token of the user
    ends.

    The token is bound to the email and password it was issued for: it dies once used.
    """
    await recovery.reset_password(state, token=body.token, new_password=body.new_password)


BAD_LINK = responses(ErrorCode.VERIFICATION_TOKEN_INVALID)


@router.post("/verify-email", status_code=204, operation_id="auth-verify-email", responses=BAD_LINK)
async def verify_email(body: EmailVerification, state: State) -> None:
    """Prove an email address with the token its verification mail carried (once; a
    token issued before an email change no longer works)."""
    await recovery.verify_email(state, token=body.token)


@router.post("/verify-email/resend", status_code=202, operation_id="auth-verify-email-resend")
async def resend_verification(
    body: VerificationRequest, state: State, client: Client, background: BackgroundTasks
) -> Message:
    """Email a new verification link (at most one a minute per account).

    The answer is the same whether or not the email belongs to such an account.
    """
    link = await recovery.resend_verification(state, email=body.email, client=client)
    _send(state, background, link)
    return Message(detail=VERIFICATION_REQUESTED)
