"""The caller of a request: whom its access token names, proven inside each unit.

A route gets a `Caller` from its dependencies once the token's signature, type and
expiry are checked (no database work yet). Each unit it runs through the caller
first loads the signed-in user (active, session live: one indexed query) on the
unit's own connection and thread, then calls the unit with that user: so a request
costs one thread hop per unit, and a user revoked meanwhile is refused at once.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from app.db import Database
from app.errors import AppError, ErrorCode
from app.fields import utcnow
from app.models import AuthSession, Role, User
from app.tokens import SessionClaims

P = ParamSpec("P")
T = TypeVar("T")

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


@dataclass(frozen=True, slots=True)
class Caller:
    """A request's verified access-token claims, and the units run on its behalf."""

    database: Database
    claims: SessionClaims
    admin_only: bool = False

    def user(self, db: Session) -> User:
        """The signed-in user, or `TOKEN_INVALID` (or `ADMIN_REQUIRED`)."""
        params = {
            "session_id": self.claims.session_id,
            "user_id": self.claims.user_id,
            "now": utcnow(),
        }
        user = db.exec(_SIGNED_IN_USER, params=params).first()
        if user is None:
            raise AppError(ErrorCode.TOKEN_INVALID)
        if self.admin_only and user.role != Role.ADMIN:
            raise AppError(ErrorCode.ADMIN_REQUIRED)
        return user

    def _as_user(
        self,
        db: Session,
        fn: Callable[Concatenate[Session, User, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return fn(db, self.user(db), *args, **kwargs)

    async def run(
        self, fn: Callable[Concatenate[Session, User, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(db, user, ...)` as a `Database.run` unit, `user` being the caller."""
        return await self.database.run(self._as_user, fn, *args, **kwargs)

    async def read(
        self, fn: Callable[Concatenate[Session, User, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(db, user, ...)` as a `Database.read` unit, `user` being the caller."""
        return await self.database.read(self._as_user, fn, *args, **kwargs)

    async def me(self) -> User:
        """The signed-in user, loaded in a read unit of its own."""
        return await self.read(_itself)


def _itself(_db: Session, user: User) -> User:
    return user
