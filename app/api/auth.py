"""Sign-up, sign-in, token refresh and sign-out (`/auth`)."""

from typing import Annotated

from fastapi import APIRouter, Form, status
from fastapi.responses import JSONResponse

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
from app.core.errors import SIGNED_IN, AppError, ErrorCode, Responses, responses
from app.models import (
    ProviderExchange,
    TwoFactorChallenge,
    TwoFactorLogin,
    UserPublic,
    UserRegister,
)
from app.models.payloads import LoginRequest, OAuth2Token, PasswordGrant, RefreshRequest, TokenPair
from app.services import provider_sign_in, rotation, sessions, sign_in, signup, two_factor
from app.services.signup import REGISTRATION_TAKEN_STATUS

router = APIRouter(prefix="/auth", tags=["auth"], route_class=ThreadedRoute)
SIGN_IN_CODES = (
    ErrorCode.LOGIN_BAD_CREDENTIALS,
    ErrorCode.ACCOUNT_DISABLED,
    ErrorCode.EMAIL_NOT_VERIFIED,
    ErrorCode.TOO_MANY_ATTEMPTS,
)
SIGN_IN_ERRORS = responses(*SIGN_IN_CODES)
SESSION_ONLY = responses(*SIGNED_IN, ErrorCode.API_TOKEN_NOT_ALLOWED)
CHALLENGED: Responses = {
    202: {
        "model": TwoFactorChallenge,
        "description": "The password is right and the account signs in with a second "
        "factor: send a code with `challengeToken` to `/auth/login/two-factor`",
    }
}


def _answer(answer: TokenPair | TwoFactorChallenge) -> TokenPair | JSONResponse:
    """A sign-in's answer: the token pair, or 202 with the two-factor challenge."""
    if isinstance(answer, TwoFactorChallenge):
        content = answer.model_dump(mode="json", by_alias=True)
        return JSONResponse(content, status_code=status.HTTP_202_ACCEPTED)
    return answer


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


@router.post(
    "/login",
    operation_id="auth-login",
    response_model=TokenPair,
    responses={**CHALLENGED, **SIGN_IN_ERRORS},
)
def login(
    body: LoginRequest, db: SessionDep, hasher: Hasher, settings: SettingsDep, client: Client
) -> TokenPair | JSONResponse:
    """Sign in with email and password; returns an access and a refresh token, or
    202 with a challenge when the account signs in with a second factor."""
    return _answer(sign_in.sign_in(db, hasher, settings, credentials=body, client=client))


@router.post(
    "/providers/exchange",
    operation_id="auth-providers-exchange",
    response_model=TokenPair,
    responses={
        **CHALLENGED,
        **responses(
            ErrorCode.OAUTH_CODE_INVALID,
            ErrorCode.OAUTH_EMAIL_MISSING,
            ErrorCode.OAUTH_EMAIL_NOT_VERIFIED,
            ErrorCode.REGISTRATION_DISABLED,
            ErrorCode.ACCOUNT_DISABLED,
            ErrorCode.EMAIL_NOT_VERIFIED,
            ErrorCode.EMAIL_ALREADY_REGISTERED,
            ErrorCode.TOO_MANY_ATTEMPTS,
        ),
    },
)
def exchange_provider_code(
    body: ProviderExchange, db: SessionDep, settings: SettingsDep, client: Client
) -> TokenPair | JSONResponse:
    """Finish a sign-in with a provider: trade the `code` the landing page received
    (single-use, one minute) for a token pair, or 202 with a challenge when the
    account signs in with a second factor. A first sign-in makes the account; an
    account with the same email is linked only if the provider verified it."""
    answer = provider_sign_in.exchange(db, settings, code=body.code, client=client)
    return _answer(answer)


@router.post(
    "/login/two-factor",
    operation_id="auth-login-two-factor",
    responses=responses(
        ErrorCode.TWO_FACTOR_CHALLENGE_INVALID,
        (ErrorCode.TWO_FACTOR_CODE_INVALID, 401),
        ErrorCode.ACCOUNT_DISABLED,
        ErrorCode.TOO_MANY_ATTEMPTS,
    ),
)
def login_two_factor(
    body: TwoFactorLogin, db: SessionDep, settings: SettingsDep, client: Client
) -> TokenPair:
    """Finish a sign-in with the challenge token and a code from the authenticator
    app (or a recovery code, which then is spent); returns the token pair."""
    return two_factor.complete_sign_in(
        db, settings, challenge_token=body.challenge_token, code=body.code, client=client
    )


@router.post(
    "/token",
    operation_id="auth-token",
    responses=responses(*SIGN_IN_CODES, ErrorCode.TWO_FACTOR_LOGIN_REQUIRED),
)
def token(
    form: Annotated[PasswordGrant, Form()],
    db: SessionDep,
    hasher: Hasher,
    settings: SettingsDep,
    client: Client,
) -> OAuth2Token:
    """OAuth2 password flow (form fields `username` = email, `password`), for Swagger
    UI. An account that signs in with a second factor uses `/auth/login` (403)."""
    credentials = LoginRequest(email=form.username, password=form.password)
    pair = sign_in.sign_in(db, hasher, settings, credentials=credentials, client=client)
    if isinstance(pair, TwoFactorChallenge):
        db.commit()  # the audit log keeps the right password's challenge
        raise AppError(ErrorCode.TWO_FACTOR_LOGIN_REQUIRED)
    return OAuth2Token(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/refresh", operation_id="auth-refresh", responses=responses(ErrorCode.REFRESH_TOKEN_INVALID)
)
def refresh(body: RefreshRequest, db: SessionDep, settings: SettingsDep) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once: using a
    spent one again signs its session out."""
    pair = rotation.rotate_session(db, settings=settings, refresh_token=body.refresh_token)
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
