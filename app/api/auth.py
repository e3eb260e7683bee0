"""Sign-up, sign-in, token refresh and sign-out (`/auth`)."""

from typing import Annotated

from fastapi import Form
from fastapi.responses import JSONResponse

from app.api.cookies import AuthMode
from app.api.deps import (
    Client,
    CurrentSessionId,
    Hasher,
    OutboxDep,
    SessionDep,
    SessionUser,
    SettingsDep,
)
from app.api.routing import feature_router
from app.core.errors import SESSION_ONLY, AppError, ErrorCode, Responses, responses
from app.models import (
    ProviderExchange,
    TwoFactorChallenge,
    TwoFactorLogin,
    UserPublic,
    UserRegister,
)
from app.models.payloads import (
    LoginRequest,
    OAuth2Token,
    PasswordGrant,
    RefreshRequest,
    SignInAnswer,
    TokenPair,
)
from app.services import provider_sign_in, rotation, sessions, sign_in, signup, two_factor
from app.services.signup import REGISTRATION_TAKEN_STATUS

router = feature_router("/auth", "auth")
SIGN_IN_CODES = (
    ErrorCode.LOGIN_BAD_CREDENTIALS,
    ErrorCode.ACCOUNT_DISABLED,
    ErrorCode.EMAIL_NOT_VERIFIED,
    ErrorCode.TOO_MANY_ATTEMPTS,
)
SIGN_IN_ERRORS = responses(*SIGN_IN_CODES, ErrorCode.CROSS_SITE_REQUEST)
LOGOUT = responses(*SESSION_ONLY, ErrorCode.CROSS_SITE_REQUEST)
REGISTRATION_REFUSED = responses(
    (ErrorCode.EMAIL_ALREADY_REGISTERED, REGISTRATION_TAKEN_STATUS), ErrorCode.REGISTRATION_DISABLED
)
CHALLENGED: Responses = {
    202: {
        "model": TwoFactorChallenge,
        "description": "The password is right and the account signs in with a second "
        "factor: send a code with `challengeToken` to `/auth/login/two-factor`",
    }
}


def _answer(answer: TokenPair | TwoFactorChallenge, mode: AuthMode) -> SignInAnswer | JSONResponse:
    """A sign-in's answer: the token pair (as cookies in cookie mode), or 202 with the
    two-factor challenge."""
    if isinstance(answer, TwoFactorChallenge):
        content = answer.model_dump(mode="json", by_alias=True)
        return JSONResponse(content, status_code=202)
    return mode.answer(answer)


@router.post(
    "/register", status_code=201, operation_id="auth-register", responses=REGISTRATION_REFUSED
)
def register(
    body: UserRegister, db: SessionDep, hasher: Hasher, settings: SettingsDep, outbox: OutboxDep
) -> UserPublic:
    """Create an account (role USER); with REQUIRE_EMAIL_VERIFICATION, mail the link
    that verifies its address."""
    user, verification = signup.register(db, hasher, settings, user_in=body)
    outbox.send(verification)
    return UserPublic.model_validate(user)


@router.post(
    "/login",
    operation_id="auth-login",
    response_model=SignInAnswer,
    responses={**CHALLENGED, **SIGN_IN_ERRORS},
)
def login(
    body: LoginRequest,
    db: SessionDep,
    hasher: Hasher,
    settings: SettingsDep,
    client: Client,
    mode: AuthMode,
) -> SignInAnswer | JSONResponse:
    """Sign in with email and password; returns an access and a refresh token (as
    cookies with `X-Auth-Mode: cookie`), or 202 with a challenge when the account
    signs in with a second factor."""
    answer = sign_in.sign_in(db, hasher, settings, credentials=body, client=client)
    return _answer(answer, mode)


@router.post(
    "/providers/exchange",
    operation_id="auth-providers-exchange",
    response_model=SignInAnswer,
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
            ErrorCode.CROSS_SITE_REQUEST,
        ),
    },
)
def exchange_provider_code(
    body: ProviderExchange, db: SessionDep, settings: SettingsDep, client: Client, mode: AuthMode
) -> SignInAnswer | JSONResponse:
    """Finish a sign-in with a provider: trade the `code` the landing page received
    (single-use, one minute) for a token pair (as cookies with `X-Auth-Mode: cookie`),
    or 202 with a challenge when the account signs in with a second factor. A first
    sign-in makes the account; an account with the same email is linked only if the
    provider verified it."""
    answer = provider_sign_in.exchange(db, settings, code=body.code, client=client)
    return _answer(answer, mode)


@router.post(
    "/login/two-factor",
    operation_id="auth-login-two-factor",
    responses=responses(
        ErrorCode.TWO_FACTOR_CHALLENGE_INVALID,
        (ErrorCode.TWO_FACTOR_CODE_INVALID, 401),
        ErrorCode.ACCOUNT_DISABLED,
        ErrorCode.CROSS_SITE_REQUEST,
        ErrorCode.TOO_MANY_ATTEMPTS,
    ),
)
def login_two_factor(
    body: TwoFactorLogin, db: SessionDep, settings: SettingsDep, client: Client, mode: AuthMode
) -> SignInAnswer:
    """Finish a sign-in with the challenge token and a code from the authenticator
    app (or a recovery code, which then is spent); returns the token pair (as
    cookies with `X-Auth-Mode: cookie`)."""
    pair = two_factor.complete_sign_in(
        db, settings, challenge_token=body.challenge_token, code=body.code, client=client
    )
    return mode.answer(pair)


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
    "/refresh",
    operation_id="auth-refresh",
    responses=responses(ErrorCode.REFRESH_TOKEN_INVALID, ErrorCode.CROSS_SITE_REQUEST),
)
def refresh(
    db: SessionDep, settings: SettingsDep, mode: AuthMode, body: RefreshRequest | None = None
) -> SignInAnswer:
    """Trade a refresh token for a new pair. Each refresh token works once: using a
    spent one again signs its session out. With `X-Auth-Mode: cookie` the refresh
    token is the refresh cookie's (no body needed) and the new pair is set as cookies;
    a refused one clears them."""
    refresh_token = mode.refresh_token(body)
    pair = rotation.rotate_session(db, settings=settings, refresh_token=refresh_token)
    if pair is None:
        db.commit()  # a reused token's session stays revoked
        raise mode.refusal(ErrorCode.REFRESH_TOKEN_INVALID)
    return mode.answer(pair)


@router.post("/logout", status_code=204, operation_id="auth-logout", responses=LOGOUT)
def logout(db: SessionDep, user: SessionUser, session_id: CurrentSessionId, mode: AuthMode) -> None:
    """Sign out this session: its access and refresh tokens stop working at once
    (with `X-Auth-Mode: cookie`, the cookies are cleared too)."""
    sessions.end_session(db, user, session_id=session_id)
    mode.signed_out()


@router.post("/logout-all", status_code=204, operation_id="auth-logout-all", responses=LOGOUT)
def logout_all(db: SessionDep, user: SessionUser, mode: AuthMode) -> None:
    """Sign out every session of the caller (with `X-Auth-Mode: cookie`, this
    browser's cookies are cleared too)."""
    sessions.end_all_sessions(db, user)
    mode.signed_out()
