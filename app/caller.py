"""The caller of a request: whom its credential names, proven inside each unit.

A route gets a `Caller` from its dependencies once the credential's form is checked
(a JWT's signature, type and expiry; an API token's checksum), with no database work
yet. Each unit it runs through the caller first loads the signed-in user (active,
session or token live: one indexed query) on the unit's own connection and thread,
sets them as the unit's actor (`app.context`), then calls the unit with that user: so
a request costs one thread hop per unit, and a revoked credential is refused at once.

An API token acts within its scopes, never beyond its owner's current role: `read`
allows safe methods, `write` any method, `admin` the admin routes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from app import api_tokens, audit
from app.audit import AuditAction, Outcome
from app.context import Actor, ActorKind, actor_var
from app.db import Database
from app.errors import AppError, ErrorCode
from app.fields import utcnow
from app.models import ApiToken, AuthSession, Role, TokenScope, User
from app.tokens import SessionClaims

P = ParamSpec("P")
T = TypeVar("T")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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
    """A request's credential (session claims or an API token) and the units run on its
    behalf; `admin_only` callers' units refuse anyone but an admin."""

    database: Database
    credential: SessionClaims | str
    method: str = "GET"
    admin_only: bool = False

    @property
    def claims(self) -> SessionClaims:
        """The session claims; `API_TOKEN_NOT_ALLOWED` for an API token (sessions,
        tokens, the password and the email are managed from a signed-in session)."""
        if not isinstance(self.credential, SessionClaims):
            raise AppError(ErrorCode.API_TOKEN_NOT_ALLOWED)
        return self.credential

    def _by_session(self, db: Session, claims: SessionClaims) -> User:
        params = {"session_id": claims.session_id, "user_id": claims.user_id, "now": utcnow()}
        user = db.exec(_SIGNED_IN_USER, params=params).first()
        if user is None:
            raise AppError(ErrorCode.TOKEN_INVALID)
        actor_var.set(Actor(ActorKind.USER, user.id, user.email, claims.session_id))
        return user

    def _by_api_token(self, db: Session, token: str) -> tuple[User, ApiToken]:
        found = api_tokens.signed_in(db, token)
        if found is None:
            raise AppError(ErrorCode.TOKEN_INVALID)
        user, row = found
        actor_var.set(Actor(ActorKind.API_TOKEN, user.id, user.email, row.id))
        scopes = row.scope_set
        if (self.method not in SAFE_METHODS and TokenScope.WRITE not in scopes) or (
            self.admin_only and TokenScope.ADMIN not in scopes
        ):
            raise AppError(ErrorCode.API_TOKEN_SCOPE)
        return user, row

    def user(self, db: Session) -> User:
        """The signed-in user, or `TOKEN_INVALID` (`ADMIN_REQUIRED`, `API_TOKEN_*`)."""
        if isinstance(self.credential, SessionClaims):
            user = self._by_session(db, self.credential)
        else:
            user, _token = self._by_api_token(db, self.credential)
        if self.admin_only and user.role != Role.ADMIN:
            audit.record(db, AuditAction.ADMIN_FORBIDDEN, outcome=Outcome.DENIED, target=user)
            raise AppError(ErrorCode.ADMIN_REQUIRED, keep_changes=True)
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
        """`fn(db, user, ...)` as a `Database.read` unit, `user` being the caller.

        A refusal recorded in the audit log is written by a unit of its own."""
        try:
            return await self.database.read(self._as_user, fn, *args, **kwargs)
        except AppError as error:
            if error.keep_changes:
                await self.database.run(self._as_user, _itself)
            raise

    async def me(self) -> User:
        """The signed-in user, loaded in a read unit of its own."""
        return await self.read(_itself)


def _itself(_db: Session, user: User) -> User:
    return user
