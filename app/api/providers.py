"""Sign-in with an external provider (`/auth/providers`): which are configured, and
the browser's way there and back. `POST /auth/providers/exchange` (in `auth`) then
trades the code the browser lands with for tokens, as `/auth/login` answers.

The rule for errors: a request to `authorize` that cannot start answers JSON (an
unconfigured provider 404, a `redirectTo` off the allowed origins 400). Once a
sign-in has started, every outcome reaches the frontend's landing page by a 302:
`?code=` to post to the exchange, or `?error=CODE` (`OAUTH_STATE_INVALID`,
`OAUTH_PROVIDER_DENIED`, `OAUTH_EXCHANGE_FAILED`, `OAUTH_PROVIDER_UNAVAILABLE`).
These routes are `async`: they await the provider without holding a thread.
"""

from functools import partial
from typing import Annotated, Any

from fastapi import Cookie, Query
from fastapi.responses import RedirectResponse

from app.api.deps import OwnSessionsDep, ProviderDep, SettingsDep
from app.api.routing import feature_router
from app.core.config import Settings
from app.core.errors import ErrorCode, Responses, responses
from app.models import ProviderPublic
from app.services import oauth_flow, provider_sign_in
from app.services.oauth_flow import COOKIE, FLOW_MINUTES

router = feature_router("/auth/providers", "auth")
UNKNOWN = responses(ErrorCode.OAUTH_PROVIDER_UNKNOWN)


def _redirect(description: str) -> Responses:
    location: dict[str, Any] = {
        "description": "Where the browser goes",
        "schema": {"type": "string"},
    }
    return {302: {"description": description, "headers": {"Location": location}}}


def _cookie_options(settings: Settings, provider: str) -> dict[str, Any]:
    return {
        "path": oauth_flow.callback_path(settings, provider),
        "httponly": True,
        "samesite": "lax",
        "secure": settings.environment == "production",
    }


@router.get("", operation_id="auth-providers-list")
async def list_providers(settings: SettingsDep) -> list[ProviderPublic]:
    """The sign-in providers configured (GitHub, Google, an OpenID Connect issuer)."""
    return oauth_flow.listing(settings)


@router.get(
    "/{providerId}/authorize",
    operation_id="auth-providers-authorize",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        **_redirect(
            "To the provider, with a cookie binding the sign-in to this browser (or to "
            "the landing page with `?error=OAUTH_PROVIDER_UNAVAILABLE`)"
        ),
        **responses(ErrorCode.OAUTH_PROVIDER_UNKNOWN, ErrorCode.OAUTH_REDIRECT_INVALID),
    },
)
async def authorize(
    provider: ProviderDep,
    settings: SettingsDep,
    redirect_to: Annotated[
        str | None,
        Query(
            alias="redirectTo",
            max_length=oauth_flow.MAX_REDIRECT_LENGTH,
            description="Where to land at the end: a path of the frontend, or an address "
            "on an allowed frontend origin (default FRONTEND_URL + OAUTH_LANDING_PATH)",
        ),
    ] = None,
) -> RedirectResponse:
    """Start signing in with the provider: a browser navigates here (a link, not
    `fetch`), and is sent on to the provider."""
    start = await oauth_flow.begin(settings, provider, redirect_to=redirect_to)
    response = RedirectResponse(start.location, status_code=302)
    response.headers["Cache-Control"] = "no-store"
    if start.cookie is not None:
        options = _cookie_options(settings, provider.name)
        response.set_cookie(COOKIE, start.cookie, max_age=FLOW_MINUTES * 60, **options)
    return response


@router.get(
    "/{providerId}/callback",
    operation_id="auth-providers-callback",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        **_redirect("To the landing page, with `?code=` or `?error=CODE`"),
        **UNKNOWN,
    },
)
async def callback(
    provider: ProviderDep,
    settings: SettingsDep,
    sessions: OwnSessionsDep,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=2048)] = None,
    flow: Annotated[str | None, Cookie(alias=COOKIE, max_length=4096)] = None,
) -> RedirectResponse:
    """Where the provider sends the browser back (register this address with it):
    the answer is checked against this browser's cookie, and the browser lands on
    the frontend with a single-use code for `/auth/providers/exchange`."""
    outcome = await oauth_flow.finish(settings, provider, cookie=flow, state=state, code=code)
    location = await sessions.write(partial(provider_sign_in.keep_answer, outcome=outcome))
    response = RedirectResponse(location, status_code=302)
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(COOKIE, **_cookie_options(settings, provider.name))
    return response
