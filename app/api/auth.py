"""Sign-up, sign-in, token refresh and sign-out (`/auth`)."""

from typing import Annotated

from fastapi import APIRouter, Form, status

from app.api.deps import (
    Client,
    CurrentSessionId,
    Hasher,
    OutboxDep,
    SessionDep,
    SessionUser,
    SettingsDep,
)
from app.api.routing import ThreadedRoute
from app.core.errors import SIGNED_IN, AppError, ErrorCode, responses
from app.models import UserPublic, UserRegister
from app.models.payloads import LoginRequest, OAuth2Token, PasswordGrant, RefreshRequest, TokenPair
from app.services import sessions, sign_in, signup
from app.services.signup import REGISTRATION_TAKEN_STATUS

router = APIRouter(prefix="/auth", tags=["auth"], route_class=ThreadedRoute)
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
def register(
    body: UserRegister,
    db: SessionDep,
    hasher: Hasher,
    settings: SettingsDep,
    outbox: OutboxDep,
) -> UserPublic:
    """Create an account (role USER); with REQUIRE_EMAIL_VERIFICATION, mail the link
    that verifies its address."""
    user, verification = signup.register(db, hasher, settings, user_in=body)
    outbox.send(verification)
    return UserPublic.model_validate(user)


@router.post("/login", operation_id="auth-login", responses=SIGN_IN_ERRORS)
def login(
    body: LoginRequest, db: SessionDep, hasher: Hasher, settings: SettingsDep, client: Client
) -> TokenPair:
    """Sign in with email and password; returns an access and a refresh token."""
    return sign_in.sign_in(db, hasher, settings, credentials=body, client=client)


@router.post("/token", operation_id="auth-token", responses=SIGN_IN_ERRORS)
def token(
    form: Annotated[PasswordGrant, Form()],
    db: SessionDep,
    hasher: Hasher,
    settings: SettingsDep,
    client: Client,
) -> OAuth2Token:
    """OAuth2 password flow (form fields `username` = email, `password`), for Swagger UI."""
    credentials = LoginRequest(email=form.username, password=form.password)
    pair = sign_in.sign_in(db, hasher, settings, credentials=credentials, client=client)
    return OAuth2Token(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/refresh", operation_id="auth-refresh", responses=responses(ErrorCode.REFRESH_TOKEN_INVALID)
)
def refresh(body: RefreshRequest, db: SessionDep, settings: SettingsDep) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once: using a
    spent one again signs its session out."""
    pair = sessions.rotate_session(db, settings=settings, refresh_token=body.refresh_token)
    if pair is None:
        db.commit()  # a reused token's session stays revoked
        raise AppError(ErrorCode.REFRESH_TOKEN_INVALID)
    return pair


@router.post("/logout", status_code=204, operation_id="auth-logout", responses=SESSION_ONLY)
def logout(db: SessionDep, user: SessionUser, session_id: CurrentSessionId) -> None:
    """Sign out this session: its access and refresh tokens stop working at once."""
    sessions.end_session(db, user, session_id=session_id)


@router.post("/logout-all", status_code=204, operation_id="auth-logout-all", responses=SESSION_ONLY)
def logout_all(db: SessionDep, user: SessionUser) -> None:
    """Sign out every session of the caller."""
    sessions.end_all_sessions(db, user)
