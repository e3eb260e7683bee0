"""Signing in to the back office with the service's own accounts and sessions.

Sign-in is `sign_in.sign_in(..., admin_only=True)` on a hashing thread: the
throttling, timing and answers of `/auth/login`, a row in the sessions table, and for
an account that is not an admin the very answer of a wrong password. The browser
keeps that session's refresh token in an HttpOnly, SameSite=Lax cookie scoped to
/admin (Secure in production). Every request is checked against the database in one
indexed query: the session live, the cookie's token the one stored, the user active
and an admin. So sign-out everywhere, deactivation, demotion and a password change
end a back-office sign-in at once. Each change then runs in a transaction that checks
the same again first, as that admin (`as_admin`).

An admin who signs in with a second factor is asked for a code on a second step of
the sign-in page (the challenge token in a hidden field), as `/auth/login/two-factor`
asks. With REQUIRE_ADMIN_2FA, a sign-in without a second factor (an admin who has not
set one up) opens only the two-factor page (`two_factor.py`), to set one up; every
other page leads there.
"""

import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Concatenate, ParamSpec, TypeVar

from pydantic import ValidationError
from sqladmin.authentication import AuthenticationBackend
from sqlmodel import Session, col, select, update
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.forms import CSRF_FIELD, CSRF_HEADER, csrf_token_for, csrf_token_var
from app.admin.guard import SAFE_METHODS
from app.api.deps import get_client
from app.core.db import Database
from app.core.errors import AppError, ErrorCode
from app.core.state import AppState
from app.core.tokens import InvalidTokenError, SessionClaims, decode_session_token, hash_token
from app.models import AuthSession, Role, TwoFactorChallenge, User
from app.models.fields import utcnow
from app.models.payloads import LoginRequest, TokenPair
from app.services import audit, sessions, sign_in, two_factor
from app.services.sessions import ClientInfo

P = ParamSpec("P")
T = TypeVar("T")

COOKIE = "admin_session"
COOKIE_PATH = "/admin"
TOUCH_EVERY = timedelta(minutes=1)  # how often a session's last use is written
CSRF_REFUSED = "The form has expired; reload the page and try again."
TWO_FACTOR_PAGE = "admin:view-two-factor"


class CodeNeeded(Exception):
    """The password was right; the sign-in page asks for a code next."""

    def __init__(self, challenge: TwoFactorChallenge) -> None:
        super().__init__("a two-factor code is needed")
        self.challenge_token = challenge.challenge_token


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A request's checked back-office sign-in."""

    user: User
    claims: SessionClaims
    token_hash: str  # of the cookie's refresh token
    csrf_token: str
    two_factor: bool = False  # signed in with a second factor


def find_admin(
    db: Session, *, claims: SessionClaims, token_hash: str, now: datetime
) -> tuple[User, datetime, bool] | None:
    """The admin whose live session holds the refresh token of `token_hash`, the
    session's last use, and whether it was signed in with a second factor; `None` if
    any of it does not hold."""
    row = db.exec(
        select(User, AuthSession.last_used_at, AuthSession.two_factor)
        .join(AuthSession, col(AuthSession.user_id) == col(User.id))
        .where(
            col(AuthSession.id) == claims.session_id,
            col(User.id) == claims.user_id,
            col(AuthSession.refresh_token_hash) == token_hash,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > now,
            col(User.is_active).is_(True),
            col(User.role) == Role.ADMIN,
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def touch(db: Session, *, session_id: uuid.UUID, now: datetime) -> None:
    """Record that the session was used `now`."""
    db.exec(update(AuthSession).where(col(AuthSession.id) == session_id).values(last_used_at=now))


def as_admin(
    database: Database,
    signed_in: SignedIn,
    fn: Callable[Concatenate[Session, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`fn(db, ...)` in one transaction as the signed-in admin, whose sign-in is
    checked again first (`TOKEN_INVALID` once it has ended)."""
    with database.session() as db:
        claims, now = signed_in.claims, utcnow()
        if find_admin(db, claims=claims, token_hash=signed_in.token_hash, now=now) is None:
            raise AppError(ErrorCode.TOKEN_INVALID)
        audit.act_as(db, audit.acting(signed_in.user, credential_id=claims.session_id))
        result = fn(db, *args, **kwargs)
        db.commit()
        return result


def _signed_in_admin(
    database: Database, settings_key: str, token: str, claims: SessionClaims, now: datetime
) -> SignedIn | None:
    """The back-office sign-in of a cookie's refresh token, its last use recorded
    (at most once per TOUCH_EVERY)."""
    token_hash = hash_token(token)
    with database.session(read_only=True) as db:
        found = find_admin(db, claims=claims, token_hash=token_hash, now=now)
        if found is None:
            return None
        user, last_used_at, second_factor = found
        if now - last_used_at >= TOUCH_EVERY:
            touch(db, session_id=claims.session_id, now=now)
    csrf_token = csrf_token_for(settings_key, claims.session_id)
    return SignedIn(user, claims, token_hash, csrf_token, second_factor)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


class AdminAuth(AuthenticationBackend):
    """SQLAdmin's authentication, on the service's sessions (no session middleware)."""

    def __init__(self, state: AppState) -> None:
        self.middlewares = []
        self.state = state

    def _claims(self, token: str) -> SessionClaims | None:
        try:
            return decode_session_token(self.state.settings, token, "refresh")
        except InvalidTokenError:
            return None

    def _set_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            COOKIE,
            token,
            max_age=self.state.settings.refresh_token_expire_days * 86400,
            path=COOKIE_PATH,
            secure=self.state.settings.environment == "production",
            httponly=True,
            samesite="lax",
        )

    def _forget(self, response: Response) -> Response:
        secure = self.state.settings.environment == "production"
        response.delete_cookie(
            COOKIE, path=COOKIE_PATH, secure=secure, httponly=True, samesite="lax"
        )
        return response

    async def login(self, request: Request) -> Response:
        """Sign in with the form's email and password, or (the second step) its
        challenge token and code; raises `AppError` when refused, `CodeNeeded` when
        a code is due."""
        form = await request.form()
        state, client = self.state, await get_client(request)
        challenge_token = _text(form, "challenge_token")
        if challenge_token:
            finish = partial(_complete_sign_in, state, challenge_token, _text(form, "code"), client)
            pair = await state.threads.run(finish, writes=True)
        else:
            try:
                login = LoginRequest(email=_text(form, "email"), password=_text(form, "password"))
            except ValidationError:
                raise AppError(ErrorCode.LOGIN_BAD_CREDENTIALS) from None
            answer = await state.threads.run_hashing(
                partial(_sign_in, state, login, client), abandoned=request.is_disconnected
            )
            if isinstance(answer, TwoFactorChallenge):
                raise CodeNeeded(answer)
            pair = answer
        response = RedirectResponse(request.url_for("admin:index"), status_code=303)
        self._set_cookie(response, pair.refresh_token)
        return response

    async def logout(self, request: Request) -> Response:
        """End this sign-in's session and forget the cookie."""
        claims = self._claims(request.cookies.get(COOKIE, ""))
        if claims is not None:
            end = partial(_end_session, self.state.database, claims)
            await self.state.threads.run(end, writes=True)
        response = RedirectResponse(request.url_for("admin:login"), status_code=303)
        return self._forget(response)

    async def authenticate(self, request: Request) -> Response | bool:
        """Let the request in only for a live admin sign-in (else to the sign-in
        page); a POST or DELETE only with the sign-in's CSRF token. (SQLAdmin's
        GET actions and sign-out carry none: the browser guard makes sure that
        they come from the back office's own pages.)"""
        token = request.cookies.get(COOKIE, "")
        signed_in = await self._signed_in(token) if token else None
        if signed_in is None:
            response = RedirectResponse(request.url_for("admin:login"), status_code=303)
            return self._forget(response) if token else response
        if request.method not in SAFE_METHODS:
            await _check_csrf(request, signed_in.csrf_token)
        request.state.back_office = signed_in
        csrf_token_var.set(signed_in.csrf_token)
        if self.state.settings.require_admin_2fa and not signed_in.two_factor:
            page = request.url_for(TWO_FACTOR_PAGE)
            if request.url.path != page.path:  # only the two-factor page, to set it up
                return RedirectResponse(page, status_code=303)
        return True

    async def get_user_id(self, request: Request) -> object:
        signed_in: SignedIn = request.state.back_office
        return signed_in.user.id

    async def _signed_in(self, token: str) -> SignedIn | None:
        claims = self._claims(token)
        if claims is None:
            return None
        state = self.state
        check = partial(
            _signed_in_admin, state.database, state.settings.secret_key, token, claims, utcnow()
        )
        return await state.threads.run(check, writes=False)


def _sign_in(
    state: AppState, login: LoginRequest, client: ClientInfo
) -> TokenPair | TwoFactorChallenge:
    with state.database.session() as db:
        answer = sign_in.sign_in(
            db, state.hasher, state.settings, credentials=login, client=client, admin_only=True
        )
        db.commit()
        return answer


def _complete_sign_in(
    state: AppState, challenge_token: str, code: str, client: ClientInfo
) -> TokenPair:
    if not code or len(code) > 64:
        raise AppError(ErrorCode.TWO_FACTOR_CODE_INVALID, status=401)
    with state.database.session() as db:
        pair = two_factor.complete_sign_in(
            db, state.settings, challenge_token=challenge_token, code=code, client=client,
            admin_only=True,
        )  # fmt: skip
        db.commit()
        return pair


def _end_session(database: Database, claims: SessionClaims) -> None:
    """End a back-office sign-in's session, as its admin (already ended is fine)."""
    with database.session() as db:
        user = db.get(User, claims.user_id)
        if user is not None:
            audit.act_as(db, audit.acting(user, credential_id=claims.session_id))
            sessions.end_session(db, user, session_id=claims.session_id)
            db.commit()


async def _check_csrf(request: Request, expected: str) -> None:
    """403 unless the request carries `expected` (header, or form field)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        sent = _text(await request.form(), CSRF_FIELD)
    if not hmac.compare_digest((sent or "").encode(), expected.encode()):
        raise HTTPException(status_code=403, detail=CSRF_REFUSED)
