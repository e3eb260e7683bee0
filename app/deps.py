"""Dependencies as types: what a route needs from the app and the request.

None of them touches the database: routes run database work as units (`db.py`),
through a `Caller` when the work is done on behalf of a signed-in user.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

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

# The token URL is relative to the docs page (/api/v1/docs), so Swagger UI's
# "Authorize" posts to /api/v1/auth/token whatever prefix is configured.
bearer_token = OAuth2PasswordBearer(tokenUrl="auth/token", auto_error=False)


async def get_caller(token: Annotated[str | None, Depends(bearer_token)], state: State) -> Caller:
    """The caller named by a valid access token, else 401."""
    if token is None:
        raise AppError(ErrorCode.NOT_AUTHENTICATED)
    try:
        claims = decode_session_token(state.settings, token, "access")
    except InvalidTokenError:
        raise AppError(ErrorCode.TOKEN_INVALID) from None
    return Caller(state.database, claims)


async def get_admin_caller(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    """The caller, whose units refuse anyone but an admin (403)."""
    return Caller(caller.database, caller.claims, admin_only=True)


SignedIn = Annotated[Caller, Depends(get_caller)]
SignedInAdmin = Annotated[Caller, Depends(get_admin_caller)]
