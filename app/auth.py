"""Sign-up, sign-in, token refresh, sign-out and password reset (`/auth`)."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError
from sqlmodel import Session, col, update

from app.config import Settings
from app.deps import AccessClaims, CurrentUser, HasherDep, SessionDep, SettingsDep
from app.errors import (
    AUTHENTICATED,
    EMAIL_REGISTERED,
    bad_request,
    forbidden,
    responses,
    too_many_attempts,
    unauthorized,
)
from app.mail import send_password_reset
from app.models import (
    LoginRequest,
    Message,
    OAuth2Token,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    TokenPair,
    User,
    UserPublic,
    UserRegister,
    utcnow,
)
from app.security import (
    InvalidTokenError,
    PasswordHasher,
    create_reset_token,
    decode_reset_token,
    matches_fingerprint,
)
from app.sessions import (
    client_details,
    open_session,
    revoke_session,
    revoke_user_sessions,
    rotate_session,
)
from app.throttle import record_failure, reset, retry_after, throttle_keys
from app.users import EmailTakenError, create_user, email_taken, get_user_by_email

router = APIRouter(prefix="/auth", tags=["auth"])

SIGN_IN_ERRORS = responses(
    {
        401: "Invalid email or password",
        403: "Account is disabled",
        429: "Too many failed sign-ins; see Retry-After",
    }
)
RESET_REQUESTED = "If that email belongs to an account, a password reset link is on its way."


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    operation_id="auth-register",
    responses=responses({400: EMAIL_REGISTERED, 403: "Registration is disabled"}),
)
async def register(
    body: UserRegister,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    hasher: HasherDep,
) -> UserPublic:
    """Create an account (role USER)."""
    if not settings.allow_registration:
        raise forbidden("Registration is disabled")
    if await run_in_threadpool(email_taken, session, body.email):
        raise bad_request(EMAIL_REGISTERED)
    password_hash = await hasher.hash(body.password, abandoned=request.is_disconnected)
    try:
        user = await run_in_threadpool(
            lambda: create_user(session=session, user_in=body, password_hash=password_hash)
        )
    except EmailTakenError:
        raise bad_request(EMAIL_REGISTERED) from None
    return UserPublic.model_validate(user)


async def sign_in(
    request: Request,
    session: Session,
    settings: Settings,
    hasher: PasswordHasher,
    credentials: LoginRequest,
) -> TokenPair:
    """Check credentials under throttling and open a session.

    An unknown email costs the same password check as a known one, and gets the
    same answer as a wrong password.
    """
    user_agent, ip_address = client_details(request)
    keys = throttle_keys(credentials.email, ip_address)

    def look_up() -> tuple[int | None, User | None]:
        wait = retry_after(session, settings, keys, utcnow())
        user = None if wait else get_user_by_email(session, credentials.email)
        session.commit()  # hand the connection back while the password is checked
        return wait, user

    wait, user = await run_in_threadpool(look_up)
    if wait is not None:
        raise too_many_attempts(wait)
    password_ok = await hasher.verify(
        credentials.password,
        user.password_hash if user else None,
        abandoned=request.is_disconnected,
    )
    if user is None or not password_ok:
        await run_in_threadpool(record_failure, session, settings, keys, utcnow())
        raise unauthorized("Invalid email or password")
    if not user.is_active:
        raise forbidden("Account is disabled")

    def start_session() -> TokenPair:
        reset(session, keys[0])
        return open_session(
            session, settings, user=user, user_agent=user_agent, ip_address=ip_address
        )

    return await run_in_threadpool(start_session)


@router.post("/login", operation_id="auth-login", responses=SIGN_IN_ERRORS)
async def login(
    body: LoginRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
) -> TokenPair:
    """Sign in with email and password; returns an access and a refresh token."""
    return await sign_in(request, session, settings, hasher, body)


@router.post("/token", operation_id="auth-token", responses=SIGN_IN_ERRORS)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
) -> OAuth2Token:
    """OAuth2 password flow (form fields `username` = email, `password`), for Swagger UI."""
    try:
        credentials = LoginRequest(email=form.username, password=form.password)
    except ValidationError as exc:
        form_names = {"email": "username", "password": "password"}
        raise RequestValidationError(
            [{**error, "loc": ("body", form_names[str(error["loc"][0])])} for error in exc.errors()]
        ) from None
    pair = await sign_in(request, session, settings, hasher, credentials)
    return OAuth2Token(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post(
    "/refresh",
    operation_id="auth-refresh",
    responses=responses({401: "Invalid, expired, spent or revoked refresh token"}),
)
def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once: using a
    spent one again signs its session out."""
    try:
        return rotate_session(session, settings, body.refresh_token)
    except InvalidTokenError:
        raise unauthorized("Invalid refresh token") from None


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="auth-logout",
    responses=AUTHENTICATED,
)
def logout(user: CurrentUser, claims: AccessClaims, session: SessionDep) -> None:
    """Sign out this session: its access and refresh tokens stop working at once."""
    revoke_session(session, user_id=user.id, session_id=claims.session_id)


@router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="auth-logout-all",
    responses=AUTHENTICATED,
)
def logout_all(user: CurrentUser, session: SessionDep) -> None:
    """Sign out every session of the caller."""
    revoke_user_sessions(session, user_id=user.id)
    session.commit()


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="auth-password-reset-request",
)
def request_password_reset(
    body: PasswordResetRequest,
    session: SessionDep,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Message:
    """Email a single-use reset link (valid for PASSWORD_RESET_EXPIRE_MINUTES).

    The answer is the same whether or not the email belongs to an account.
    """
    user = get_user_by_email(session, body.email)
    if user is not None and user.is_active:
        reset_token = create_reset_token(
            settings, user_id=user.id, password_hash=user.password_hash
        )
        background.add_task(send_password_reset, settings, user.email, reset_token)
    return Message(detail=RESET_REQUESTED)


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="auth-password-reset-confirm",
    responses=responses({400: "Invalid, expired or used reset token"}),
)
async def confirm_password_reset(
    body: PasswordResetConfirm, session: SessionDep, settings: SettingsDep, hasher: HasherDep
) -> None:
    """Set a new password with a reset token; every session of the user is signed out.

    The token is bound to the password it was issued for, so it dies once used.
    """
    invalid = bad_request("Invalid or expired reset token")
    try:
        claims = decode_reset_token(settings, body.token)
    except InvalidTokenError:
        raise invalid from None

    def load() -> User | None:
        user = session.get(User, claims.user_id)
        session.commit()
        return user

    user = await run_in_threadpool(load)
    if (
        user is None
        or not user.is_active
        or not matches_fingerprint(settings, user.password_hash, claims.password_fingerprint)
    ):
        raise invalid
    old_hash, new_hash = user.password_hash, await hasher.hash(body.new_password)

    def store() -> None:
        swapped = session.exec(
            update(User)
            .where(col(User.id) == user.id, col(User.password_hash) == old_hash)
            .values(password_hash=new_hash, updated_at=utcnow())
        )
        if swapped.rowcount != 1:
            session.rollback()
            raise invalid
        revoke_user_sessions(session, user_id=user.id)
        session.commit()

    await run_in_threadpool(store)
