"""Dependencies as types: what a route needs from the app and the request.

Routes are `def` functions over these, like `def read_item(item_id, db: SessionDep,
user: CurrentUser)`; `app.api.routing` runs a route and its `def` dependencies on one
thread. `SessionDep` is the request's database session, committed when the route
returns and rolled back when it raises. `CurrentUser` is the signed-in user (an
access token's session or an API token, checked in one indexed query), `AdminUser` an
admin, and `SessionUser` a user signed in with a session, not an API token (sessions,
tokens, the password and the email are managed that way only). An API token acts
within its scopes: `read` allows GET and HEAD, `write` any method, `admin` the admin
routes. Each refusal happens here, once per request; one that the audit log records
is committed here, before the request's work is rolled back.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

from fastapi import BackgroundTasks, Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from app.api import cookies
from app.core.config import Settings
from app.core.context import Actor, ActorKind
from app.core.db import read_again_if_dropped
from app.core.errors import AppError, ErrorCode
from app.core.passwords import PasswordHasher
from app.core.state import AppState, app_state
from app.core.tokens import InvalidTokenError, SessionClaims, decode_session_token
from app.models import Role, TokenScope, User
from app.services import api_tokens, audit, mail, oauth_providers, sessions, two_factor
from app.services.audit import AuditAction, Outcome
from app.services.mail import Mail
from app.services.oauth_providers import Provider
from app.services.sessions import ClientInfo

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")


async def get_settings(request: Request) -> Settings:
    """The settings of the app serving this request."""
    return app_state(request.app).settings


def get_hasher(request: Request) -> PasswordHasher:
    """The app's password hasher. A route that takes it runs on a hashing thread."""
    return app_state(request.app).hasher


@dataclass(frozen=True, slots=True)
class Outbox:
    """Mail a route asks to send: it goes once the response is sent (a background task)."""

    settings: Settings
    background: BackgroundTasks

    def send(self, message: Mail | None) -> None:
        """Send `message` after the response, if there is one."""
        if message is not None:
            self.background.add_task(mail.send, self.settings, message)


async def get_outbox(request: Request, background: BackgroundTasks) -> Outbox:
    """Where a route leaves the mail it sends."""
    return Outbox(app_state(request.app).settings, background)


async def get_client(request: Request) -> ClientInfo:
    """The user agent and address of the client, as sessions record them."""
    user_agent = request.headers.get("user-agent")
    return ClientInfo(
        user_agent=user_agent[:255] if user_agent else None,
        ip_address=request.client.host if request.client else None,
    )


def get_db(request: Request) -> Iterator[Session]:
    """The request's database session: committed once the route returns, rolled back
    if it raises. GET and HEAD only read, without a transaction."""
    read_only = request.method in READ_ONLY_METHODS
    with app_state(request.app).database.session(read_only=read_only) as db:
        yield db
        if not read_only:
            db.commit()


@dataclass(frozen=True, slots=True)
class OwnSessions:
    """Database work in sessions of its own, on the app's threads: for an `async`
    route that first awaits something else (a sign-in provider's answer), or for the
    reads of a response streamed after the route returned (a file's batches)."""

    state: AppState

    async def write(self, work: Callable[[Session], T]) -> T:
        """`work(db)` on a writing thread, committed if it returns, rolled back if it raises."""

        def in_a_transaction() -> T:
            with self.state.database.session() as db:
                result = work(db)
                db.commit()
                return result

        return await self.state.threads.run(in_a_transaction, writes=True)

    async def read(self, work: Callable[[Session], T]) -> T:
        """`work(db)` in a read-only session, on a reading thread."""

        def read() -> T:
            with self.state.database.session(read_only=True) as db:
                return work(db)

        return await self.state.threads.run(read_again_if_dropped, read, writes=False)


async def get_own_sessions(request: Request) -> OwnSessions:
    """What an `async` route works with the database with."""
    return OwnSessions(app_state(request.app))


async def get_provider(
    request: Request,
    provider: Annotated[
        Literal["github", "google", "oidc"],
        Path(alias="providerId", description="The sign-in provider: its name"),
    ],
) -> Provider:
    """The sign-in provider the path names, if configured (else 404)."""
    return oauth_providers.find(app_state(request.app).settings, provider)


OwnSessionsDep = Annotated[OwnSessions, Depends(get_own_sessions)]
ProviderDep = Annotated[Provider, Depends(get_provider)]


SettingsDep = Annotated[Settings, Depends(get_settings)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
Hasher = Annotated[PasswordHasher, Depends(get_hasher)]
Client = Annotated[ClientInfo, Depends(get_client)]
SessionDep = Annotated[Session, Depends(get_db)]

# Two ways to send a credential as `Authorization: Bearer`: an access token from a
# sign-in (the token URL is relative to the docs page, so Swagger UI's "Authorize"
# posts to <prefix>/auth/token), or a personal API token (`sqa_pat_...`), which the
# OpenAPI document declares beside it (`app.core.openapi`). A sign-in in cookie mode
# sends its access token as a cookie instead (`app.api.cookies`).
bearer = OAuth2PasswordBearer(
    tokenUrl="auth/token",
    scheme_name="session",
    description="Sign in with your account: **username** is your email address.",
    auto_error=False,
)


def _access_cookie(request: Request) -> str | None:
    """The access token of the access cookie when no `Authorization` header is sent
    (the header wins); such a request must come from a trusted page to change
    anything (403), and an API token is never taken from a cookie."""
    token = request.cookies.get(cookies.ACCESS_COOKIE)
    if token is None or "authorization" in request.headers:
        return None
    if not cookies.from_trusted_page(request, app_state(request.app).settings):
        raise AppError(ErrorCode.CROSS_SITE_REQUEST)
    if token.startswith(api_tokens.PREFIX):
        raise AppError(ErrorCode.TOKEN_INVALID)
    return token


async def get_credential(
    request: Request, token: Annotated[str | None, Depends(bearer)]
) -> SessionClaims | str:
    """The request's credential if well formed (no database work): an access token's
    claims (from `Authorization: Bearer`, else the access cookie), or an API token
    (from the header only); else 401."""
    if token is None:
        token = _access_cookie(request)
        if token is None:
            raise AppError(ErrorCode.NOT_AUTHENTICATED)
    elif token.startswith(api_tokens.PREFIX):  # never also tried as a JWT
        if not api_tokens.well_formed(token):
            raise AppError(ErrorCode.TOKEN_INVALID)
        return token
    try:
        return decode_session_token(app_state(request.app).settings, token, "access")
    except InvalidTokenError:
        raise AppError(ErrorCode.TOKEN_INVALID) from None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who a request's credential names: the user, and their session or API token."""

    user: User
    session_id: uuid.UUID | None  # None for an API token
    scopes: frozenset[TokenScope] | None  # an API token's; None for a session


def get_signed_in(
    request: Request,
    db: SessionDep,
    credential: Annotated[SessionClaims | str, Depends(get_credential)],
) -> SignedIn:
    """The active user whose live session or API token the credential is, else 401;
    403 for an API token's write without the `write` scope. They act for the audit
    log from here on."""
    if isinstance(credential, SessionClaims):
        user = sessions.signed_in_user(db, credential)
        if user is None:
            raise AppError(ErrorCode.TOKEN_INVALID)
        audit.act_as(db, audit.acting(user, credential_id=credential.session_id))
        return SignedIn(user, credential.session_id, None)
    found = api_tokens.signed_in(db, credential)
    if found is None:
        raise AppError(ErrorCode.TOKEN_INVALID)
    user, token = found
    audit.act_as(db, Actor(ActorKind.API_TOKEN, user.id, user.email, token.id))
    if request.method not in READ_ONLY_METHODS and TokenScope.WRITE not in token.scope_set:
        raise AppError(ErrorCode.API_TOKEN_SCOPE)
    return SignedIn(user, None, token.scope_set)


SignedInDep = Annotated[SignedIn, Depends(get_signed_in)]


def get_current_user(signed_in: SignedInDep) -> User:
    """The signed-in user."""
    return signed_in.user


def _second_factor(db: Session, signed_in: SignedIn) -> bool:
    """Whether the credential proves a second factor: a session signed in with one,
    or an API token of an account that signs in with one (tokens are made from a
    signed-in session)."""
    if signed_in.session_id is not None:
        return sessions.has_second_factor(db, signed_in.session_id)
    return two_factor.is_enabled(db, signed_in.user.id)


def get_admin(db: SessionDep, settings: SettingsDep, signed_in: SignedInDep) -> User:
    """The signed-in user if an admin (an API token also needs the `admin` scope and,
    with REQUIRE_ADMIN_2FA, a second factor); else 403, recorded in the audit log."""
    user = signed_in.user
    lacks_scope = signed_in.scopes is not None and TokenScope.ADMIN not in signed_in.scopes
    if lacks_scope or user.role != Role.ADMIN:
        audit.record(db, AuditAction.ADMIN_FORBIDDEN, outcome=Outcome.DENIED, target=user)
        db.commit()
        raise AppError(ErrorCode.API_TOKEN_SCOPE if lacks_scope else ErrorCode.ADMIN_REQUIRED)
    if settings.require_admin_2fa and not _second_factor(db, signed_in):
        audit.record(
            db, AuditAction.ADMIN_FORBIDDEN, outcome=Outcome.DENIED, reason="two_factor_required",
            target=user,
        )  # fmt: skip
        db.commit()
        raise AppError(ErrorCode.ADMIN_TWO_FACTOR_REQUIRED)
    return user


def get_session_id(signed_in: SignedInDep) -> uuid.UUID:
    """The id of the session signed in with; an API token gets 403."""
    if signed_in.session_id is None:
        raise AppError(ErrorCode.API_TOKEN_NOT_ALLOWED)
    return signed_in.session_id


def get_session_user(signed_in: SignedInDep) -> User:
    """The signed-in user, signed in with a session (an API token gets 403)."""
    get_session_id(signed_in)
    return signed_in.user


def get_session_admin(db: SessionDep, settings: SettingsDep, signed_in: SignedInDep) -> User:
    """An admin signed in with a session (API tokens manage no tokens)."""
    get_session_id(signed_in)
    return get_admin(db, settings, signed_in)


CurrentUser = Annotated[User, Depends(get_current_user)]
AdminUser = Annotated[User, Depends(get_admin)]
CurrentSessionId = Annotated[uuid.UUID, Depends(get_session_id)]
SessionUser = Annotated[User, Depends(get_session_user)]
SessionAdmin = Annotated[User, Depends(get_session_admin)]
UserId = Annotated[uuid.UUID, Path(alias="userId", description="The user's id")]
