"""Dependencies as types: `SessionDep`, `SettingsDep`, `CurrentUser`, `AdminUser`, ..."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from app.config import Settings
from app.db import get_session
from app.errors import forbidden, unauthorized
from app.models import AuthSession, Role, User, utcnow
from app.security import InvalidTokenError, PasswordHasher, SessionClaims, decode_session_token

SessionDep = Annotated[Session, Depends(get_session)]


async def get_settings_dep(request: Request) -> Settings:
    """The settings of the application serving this request."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_hasher(request: Request) -> PasswordHasher:
    """The password hasher of the application serving this request."""
    hasher: PasswordHasher = request.app.state.hasher
    return hasher


HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]

# The token URL is relative to the docs page (/api/v1/docs), so Swagger UI's
# "Authorize" posts to /api/v1/auth/token whatever prefix is configured.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/token")


async def get_access_claims(
    token: Annotated[str, Depends(oauth2_scheme)], settings: SettingsDep
) -> SessionClaims:
    """The verified claims of the request's access token, or 401."""
    try:
        return decode_session_token(settings, token, "access")
    except InvalidTokenError:
        raise unauthorized() from None


AccessClaims = Annotated[SessionClaims, Depends(get_access_claims)]


_SIGNED_IN_USER = (
    select(User)
    .join(AuthSession, col(AuthSession.user_id) == col(User.id))
    .where(
        col(AuthSession.id) == bindparam("session_id"),
        col(User.id) == bindparam("user_id"),
        col(AuthSession.revoked_at).is_(None),
        col(AuthSession.expires_at) > bindparam("now"),
        col(User.is_active).is_(True),
    )
)


def get_current_user(claims: AccessClaims, request: Request) -> User:
    """The signed-in user: active, and their session not revoked nor expired.

    One indexed query (both primary keys) on an autocommit connection, which is
    back in the pool before the request goes on. The user comes back detached;
    `session.add(user)` attaches it to the request's session to change it.
    """
    params = {"session_id": claims.session_id, "user_id": claims.user_id, "now": utcnow()}
    for attempt in (1, 2):
        try:
            with Session(request.app.state.read_engine) as session:
                user = session.exec(_SIGNED_IN_USER, params=params).first()
            break
        except DBAPIError as exc:  # a connection dropped since its last use: retry once
            if attempt == 2 or not exc.connection_invalidated:
                raise
    if user is None:
        raise unauthorized()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_user(user: CurrentUser) -> User:
    """The signed-in user if they are an admin, else 403."""
    if user.role != Role.ADMIN:
        raise forbidden("Admin privileges required")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
