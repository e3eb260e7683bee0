"""Sign-up, sign-in, token refresh, sign-out and sessions (`/auth`).

Thin routes: the rules are in `credentials`, `sign_in` and `sessions`.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Path, Request, status

from app import credentials, mail, sessions, sign_in
from app.credentials import REGISTRATION_TAKEN_STATUS
from app.deps import Client, DatabaseDep, SettingsDep, SignedInWithSession, State
from app.errors import SIGNED_IN, AppError, ErrorCode, responses
from app.models import SessionPublic, UserPublic, UserRegister
from app.payloads import LoginRequest, OAuth2Token, PasswordGrant, RefreshRequest, TokenPair

router = APIRouter(prefix="/auth", tags=["auth"])
SessionId = Annotated[uuid.UUID, Path(alias="sessionId", description="The session's id")]

SIGN_IN_ERRORS = responses(
    ErrorCode.LOGIN_BAD_CREDENTIALS,
    ErrorCode.ACCOUNT_DISABLED,
    ErrorCode.EMAIL_NOT_VERIFIED,
    ErrorCode.TOO_MANY_ATTEMPTS,
)
SESSION_ONLY = responses(*SIGNED_IN, ErrorCode.API_TOKEN_NOT_ALLOWED)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    operation_id="auth-register",
    responses=responses(
        (ErrorCode.EMAIL_ALREADY_REGISTERED, REGISTRATION_TAKEN_STATUS),
        ErrorCode.REGISTRATION_DISABLED,
    ),
)
async def register(
    body: UserRegister, request: Request, state: State, background: BackgroundTasks
) -> UserPublic:
    """Create an account (role USER); with REQUIRE_EMAIL_VERIFICATION, mail the link
    that verifies its address."""
    user, verification = await credentials.register(
        state, user_in=body, abandoned=request.is_disconnected
    )
    if verification is not None:
        background.add_task(mail.send, state.settings, verification)
    return UserPublic.model_validate(user)


@router.post("/login", operation_id="auth-login", responses=SIGN_IN_ERRORS)
async def login(body: LoginRequest, request: Request, state: State, client: Client) -> TokenPair:
    """Sign in with email and password; returns an access and a refresh token."""
    return await sign_in.sign_in(
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
    pair = await sign_in.sign_in(
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


signed_in_router = APIRouter(prefix="/auth", tags=["auth"], responses=SESSION_ONLY)


@signed_in_router.post("/logout", status_code=204, operation_id="auth-logout")
async def logout(caller: SignedInWithSession) -> None:
    """Sign out this session: its access and refresh tokens stop working at once."""
    await caller.run(sessions.end_session, session_id=caller.claims.session_id)


@signed_in_router.post("/logout-all", status_code=204, operation_id="auth-logout-all")
async def logout_all(caller: SignedInWithSession) -> None:
    """Sign out every session of the caller."""
    await caller.run(sessions.end_all_sessions)


sessions_router = APIRouter(prefix="/auth/sessions", tags=["sessions"], responses=SESSION_ONLY)


@sessions_router.get("", operation_id="sessions-list")
async def list_sessions(caller: SignedInWithSession) -> list[SessionPublic]:
    """The caller's live sessions, newest first; `current` marks this one."""
    return await caller.read(sessions.live_sessions, current=caller.claims.session_id)


@sessions_router.delete(
    "/{sessionId}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="sessions-revoke",
    responses=responses(ErrorCode.SESSION_NOT_FOUND),
)
async def delete_session(session_id: SessionId, caller: SignedInWithSession) -> None:
    """Sign out one of the caller's sessions (for example a lost device)."""
    await caller.run(sessions.revoke_session, session_id=session_id)
