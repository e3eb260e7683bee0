"""Sign-up, sign-in, token refresh, sign-out, sessions and password reset (`/auth`).

Thin routes: the rules are in `credentials`, `sessions` and `accounts`.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Path, Request, status

from app import credentials, mail, sessions
from app.credentials import REGISTRATION_TAKEN_STATUS
from app.deps import Client, DatabaseDep, SettingsDep, SignedIn, State
from app.errors import SIGNED_IN, AppError, ErrorCode, responses
from app.models import (
    LoginRequest,
    Message,
    OAuth2Token,
    PasswordGrant,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    SessionPublic,
    TokenPair,
    UserPublic,
    UserRegister,
)

router = APIRouter(prefix="/auth", tags=["auth"])
SessionId = Annotated[uuid.UUID, Path(alias="sessionId", description="The session's id")]

SIGN_IN_ERRORS = responses(
    ErrorCode.LOGIN_BAD_CREDENTIALS, ErrorCode.ACCOUNT_DISABLED, ErrorCode.TOO_MANY_ATTEMPTS
)
RESET_REQUESTED = "If that email belongs to an account, a password reset link is on its way."


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    operation_id="auth-register",
    responses=responses(
        (ErrorCode.EMAIL_ALREADY_REGISTERED, REGISTRATION_TAKEN_STATUS),
        ErrorCode.REGISTRATION_DISABLED,
    ),
)
async def register(body: UserRegister, request: Request, state: State) -> UserPublic:
    """Create an account (role USER)."""
    user = await credentials.register(state, user_in=body, abandoned=request.is_disconnected)
    return UserPublic.model_validate(user)


@router.post("/login", operation_id="auth-login", responses=SIGN_IN_ERRORS)
async def login(body: LoginRequest, request: Request, state: State, client: Client) -> TokenPair:
    """Sign in with email and password; returns an access and a refresh token."""
    return await credentials.sign_in(
        state, credentials=body, client=client, abandoned=request.is_disconnected
    )


@router.post("/token", operation_id="auth-token", responses=SIGN_IN_ERRORS)
async def token(
    form: Annotated[PasswordGrant, Form()],
    request: Request,
    state: State,
    client: Client,
) -> OAuth2Token:
    """OAuth2 password flow (form fields `username` = email, `password`), for Swagger UI."""
    pair = await credentials.sign_in(
        state,
        credentials=LoginRequest(email=form.username, password=form.password),
        client=client,
        abandoned=request.is_disconnected,
    )
    return OAuth2Token(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/refresh", operation_id="auth-refresh", responses=responses(ErrorCode.REFRESH_TOKEN_INVALID)
)
async def refresh(body: RefreshRequest, database: DatabaseDep, settings: SettingsDep) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once: using a
    spent one again signs its session out."""
    pair = await database.run(
        sessions.rotate_session, settings=settings, refresh_token=body.refresh_token
    )
    if pair is None:
        raise AppError(ErrorCode.REFRESH_TOKEN_INVALID)
    return pair


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="auth-password-reset-request",
)
async def request_password_reset(
    body: PasswordResetRequest, state: State, client: Client, background: BackgroundTasks
) -> Message:
    """Email a single-use reset link (valid for PASSWORD_RESET_EXPIRE_MINUTES).

    The answer is the same whether or not the email belongs to an account.
    """
    reset = await credentials.reset_mail(state, email=body.email, client=client)
    if reset is not None:
        background.add_task(mail.send_password_reset, state.settings, *reset)
    return Message(detail=RESET_REQUESTED)


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="auth-password-reset-confirm",
    responses=responses(ErrorCode.RESET_TOKEN_INVALID),
)
async def confirm_password_reset(body: PasswordResetConfirm, state: State) -> None:
    """Set a new password with a reset token; every session of the user is signed out.

    The token is bound to the password it was issued for, so it dies once used.
    """
    await credentials.reset_password(state, token=body.token, new_password=body.new_password)


signed_in_router = APIRouter(prefix="/auth", tags=["auth"], responses=responses(*SIGNED_IN))


@signed_in_router.post("/logout", status_code=204, operation_id="auth-logout")
async def logout(caller: SignedIn) -> None:
    """Sign out this session: its access and refresh tokens stop working at once."""
    await caller.run(sessions.end_session, session_id=caller.claims.session_id)


@signed_in_router.post("/logout-all", status_code=204, operation_id="auth-logout-all")
async def logout_all(caller: SignedIn) -> None:
    """Sign out every session of the caller."""
    await caller.run(sessions.end_all_sessions)


sessions_router = APIRouter(
    prefix="/auth/sessions", tags=["sessions"], responses=responses(*SIGNED_IN)
)


@sessions_router.get("", operation_id="sessions-list")
async def list_sessions(caller: SignedIn) -> list[SessionPublic]:
    """The caller's live sessions, newest first; `current` marks this one."""
    return await caller.read(sessions.live_sessions, current=caller.claims.session_id)


@sessions_router.delete(
    "/{sessionId}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="sessions-revoke",
    responses=responses(ErrorCode.SESSION_NOT_FOUND),
)
async def delete_session(session_id: SessionId, caller: SignedIn) -> None:
    """Sign out one of the caller's sessions (for example a lost device)."""
    await caller.run(sessions.revoke_session, session_id=session_id)
