"""Dependencies as types: what a route needs from the app and the request.

None of them touches the database: routes run database work as units (`db.py`),
through a `Caller` when the work is done on behalf of a signed-in user.
"""

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app import api_tokens
from app.caller import Caller
from app.config import Settings
from app.db import Database
from app.errors import AppError, ErrorCode
from app.passwords import PasswordHasher
from app.sessions import ClientInfo
from app.state import AppState, app_state
from app.tokens import InvalidTokenError, decode_session_token


async def get_state(request: Request) -> AppState:
    """The state of the application serving this request."""
    return app_state(request.app)


State = Annotated[AppState, Depends(get_state)]


async def get_settings(state: State) -> Settings:
    """The settings of the application serving this request."""
    return state.settings


async def get_database(state: State) -> Database:
    """The database of the application serving this request."""
    return state.database


async def get_hasher(state: State) -> PasswordHasher:
    """The password hasher of the application serving this request."""
    return state.hasher


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]


async def get_client(request: Request) -> ClientInfo:
    """The user agent and address of the client, as sessions record them."""
    user_agent = request.headers.get("user-agent")
    return ClientInfo(
        user_agent=user_agent[:255] if user_agent else None,
        ip_address=request.client.host if request.client else None,
    )


Client = Annotated[ClientInfo, Depends(get_client)]

# Two ways to send a credential, both as `Authorization: Bearer`: an access token from
# a sign-in (the token URL is relative to the docs page, so Swagger UI's "Authorize"
# posts to <prefix>/auth/token), or a personal API token (`sqa_pat_...`), which the
# OpenAPI document declares beside it (`app.openapi`).
session_token = OAuth2PasswordBearer(tokenUrl="auth/token", scheme_name="session", auto_error=False)


async def get_caller(
    request: Request, bearer: Annotated[str | None, Depends(session_token)]
) -> Caller:
    """The caller named by a well-formed credential, else 401 (each unit then checks
    it against the database)."""
    if bearer is None:
        raise AppError(ErrorCode.NOT_AUTHENTICATED)
    state = app_state(request.app)
    if bearer.startswith(api_tokens.PREFIX):  # never also tried as a JWT
        if not api_tokens.well_formed(bearer):
            raise AppError(ErrorCode.TOKEN_INVALID)
        return Caller(state.database, bearer, method=request.method)
    try:
        claims = decode_session_token(state.settings, bearer, "access")
    except InvalidTokenError:
        raise AppError(ErrorCode.TOKEN_INVALID) from None
    return Caller(state.database, claims, method=request.method)


SignedIn = Annotated[Caller, Depends(get_caller)]


async def get_admin_caller(caller: SignedIn) -> Caller:
    """The caller, whose units refuse anyone but an admin (403)."""
    return replace(caller, admin_only=True)


async def get_session_caller(caller: SignedIn) -> Caller:
    """The caller if signed in with a session; an API token gets 403 (sessions, tokens
    and the password are managed from a signed-in session)."""
    caller.claims  # noqa: B018 - refuses API tokens
    return caller


SignedInAdmin = Annotated[Caller, Depends(get_admin_caller)]
SignedInWithSession = Annotated[Caller, Depends(get_session_caller)]


async def get_admin_session_caller(caller: SignedInWithSession) -> Caller:
    """An admin signed in with a session (API tokens manage no tokens)."""
    return replace(caller, admin_only=True)


SignedInAdminWithSession = Annotated[Caller, Depends(get_admin_session_caller)]
