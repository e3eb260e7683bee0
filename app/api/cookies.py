"""Cookie mode: a sign-in's tokens as HttpOnly cookies, for browser apps.

A sign-in (`/auth/login`, `/auth/login/two-factor`), refresh or sign-out sent with
`X-Auth-Mode: cookie` is in cookie mode: the tokens go into cookies no script can
read, and the answer is a `CookieSession` that holds none. The access cookie goes
with every call to the API (`Path` = API_V1_PREFIX), the refresh cookie only with
`/auth/refresh`. Browsers send cookies with other sites' requests too, so a request
in cookie mode, or signed in by the access cookie, that changes something must come
from this service's origin or an allowed frontend (`app.core.csrf`, CORS_ORIGINS).
"""

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Header, Request, Response

from app.core import csrf
from app.core.config import Settings
from app.core.errors import AppError, ErrorCode
from app.core.state import app_state
from app.models.payloads import CookieSession, RefreshRequest, SignInAnswer, TokenPair

ACCESS_COOKIE = "access_token"
REFRESH_COOKIE = "refresh_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECONDS_PER_DAY = 86_400


def from_trusted_page(request: Request, settings: Settings) -> bool:
    """Whether a request that the browser sent with its cookies may act: a read (CORS
    keeps other sites from reading the answer), or a change from this origin or an
    allowed one (never any origin, even with CORS_ORIGINS=*)."""
    if request.method in SAFE_METHODS:
        return True
    trusted = [origin for origin in settings.allowed_origins if origin != "*"]
    return csrf.from_trusted_page(
        request.scope,
        request.headers,
        state_changing=True,
        trusted=trusted,
        unmarked=True,  # not sent by a browser's page, so not forged by another site
    )


def _cookie_paths(settings: Settings) -> dict[str, str]:
    prefix = settings.api_v1_prefix
    return {ACCESS_COOKIE: prefix or "/", REFRESH_COOKIE: f"{prefix}/auth/refresh"}


def set_session_cookies(response: Response, settings: Settings, pair: TokenPair) -> None:
    """Set the access and refresh cookies of `pair`, each living as long as its token."""
    lifetimes = {
        ACCESS_COOKIE: (pair.access_token, pair.expires_in),
        REFRESH_COOKIE: (pair.refresh_token, settings.refresh_token_expire_days * SECONDS_PER_DAY),
    }
    for name, path in _cookie_paths(settings).items():
        value, max_age = lifetimes[name]
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            domain=settings.auth_cookie_domain,
            secure=settings.cookie_secure,
            httponly=True,
            samesite=settings.auth_cookie_samesite,
        )


def clear_session_cookies(response: Response, settings: Settings) -> None:
    """Expire both cookies (`Max-Age=0`, on the paths and domain they were set with)."""
    for name, path in _cookie_paths(settings).items():
        response.delete_cookie(
            name,
            path=path,
            domain=settings.auth_cookie_domain,
            secure=settings.cookie_secure,
            httponly=True,
            samesite=settings.auth_cookie_samesite,
        )


@dataclass(frozen=True, slots=True)
class TokenDelivery:
    """How a sign-in, refresh or sign-out hands out its tokens: in the JSON body
    (bearer mode), or as cookies on the route's `response` (`cookie` mode)."""

    settings: Settings
    response: Response
    cookie: bool
    refresh_cookie: str | None = None  # what the refresh cookie holds, in cookie mode

    def answer(self, pair: TokenPair) -> SignInAnswer:
        """The answer that hands out `pair`: the pair, or its cookies and a `CookieSession`."""
        if not self.cookie:
            return SignInAnswer(pair)
        set_session_cookies(self.response, self.settings, pair)
        return SignInAnswer(CookieSession(expires_in=pair.expires_in))

    def refresh_token(self, body: RefreshRequest | None) -> str:
        """The refresh token to spend: the cookie's in cookie mode, else the body's
        (`""`, which no session has, when there is none)."""
        if self.cookie:
            return self.refresh_cookie or ""
        return body.refresh_token if body is not None else ""

    def signed_out(self) -> None:
        """Clear the cookies (in cookie mode)."""
        if self.cookie:
            clear_session_cookies(self.response, self.settings)

    def refusal(self, code: ErrorCode) -> AppError:
        """The error `code`; in cookie mode it clears the cookies too."""
        if not self.cookie:
            return AppError(code)
        cleared = Response()
        clear_session_cookies(cleared, self.settings)
        return AppError(code, set_cookies=cleared.headers.getlist("set-cookie"))


async def get_token_delivery(
    request: Request,
    response: Response,
    mode: Annotated[
        Literal["bearer", "cookie"],
        Header(
            alias="X-Auth-Mode",
            description="`cookie`: the tokens are set as HttpOnly cookies (for browser "
            "apps) and the answer carries none; `bearer` (the default): in the body",
        ),
    ] = "bearer",
) -> TokenDelivery:
    """How this request wants its tokens; a request in cookie mode must come from a
    trusted page (403 `CROSS_SITE_REQUEST`)."""
    settings = app_state(request.app).settings
    if mode == "bearer":
        return TokenDelivery(settings, response, cookie=False)
    if not from_trusted_page(request, settings):
        raise AppError(ErrorCode.CROSS_SITE_REQUEST)
    return TokenDelivery(settings, response, True, request.cookies.get(REFRESH_COOKIE))


AuthMode = Annotated[TokenDelivery, Depends(get_token_delivery)]
