"""The browser's round trip through a sign-in provider: OAuth 2.0's authorization code
flow with PKCE (S256), `state`, and OpenID Connect's `nonce`, through Authlib's client.

`begin` makes a random state, nonce and PKCE verifier, and the provider's address to
send the browser to. They travel in a cookie of 10 minutes that only the callback's
path gets (HttpOnly, SameSite=Lax, Secure in production): a JWT signed with the
service's key whose `type` is `oauth_flow`, so no other token passes for it and it
for no other. It also holds where the browser lands at the end: the frontend's
landing page, or a `redirectTo` that is a path of the frontend or an address on an
allowed frontend origin (never elsewhere: no open redirect).

`finish` takes the provider's answer at the callback: the cookie must be intact, of
this provider, and its state the one sent back (compared in constant time); the code
is exchanged with the verifier, and the person it names is read (`oauth_providers`).
Its failures are outcomes, not exceptions: the browser lands with `?error=CODE`.
Addresses come from PUBLIC_URL and FRONTEND_URL, never from the request's `Host`.
"""

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from pydantic import BaseModel, ConfigDict, ValidationError

from app.core.config import Settings
from app.core.errors import AppError, ErrorCode
from app.core.tokens import InvalidTokenError, create_token, decode
from app.models import ProviderPublic
from app.models.fields import utcnow
from app.services import oauth_providers
from app.services.oauth_providers import Identity, Provider

COOKIE = "oauth_flow"
FLOW_MINUTES = 10
MAX_REDIRECT_LENGTH = 2048


class Flow(BaseModel):
    """One sign-in under way, as its cookie keeps it (and gives it back, validated)."""

    model_config = ConfigDict(frozen=True)

    provider: str
    state: str
    nonce: str
    verifier: str
    landing: str


@dataclass(frozen=True, slots=True)
class Start:
    """Where `begin` sends the browser, and the flow's cookie (None when it lands at
    once with an error: the provider could not be reached)."""

    location: str
    cookie: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The provider's answer at the callback: the person, or why there is none, and
    where the browser lands."""

    landing: str
    identity: Identity | None = None
    error: ErrorCode | None = None
    provider: str = ""


def listing(settings: Settings) -> list[ProviderPublic]:
    """The configured providers, with where a browser starts signing in with each."""
    return [
        ProviderPublic(
            name=provider.name,
            display_name=provider.display_name,
            authorize_url=f"{settings.api_v1_prefix}/auth/providers/{provider.name}/authorize",
        )
        for provider in oauth_providers.configured(settings).values()
    ]


def callback_path(settings: Settings, provider: str) -> str:
    """The callback's path, where the flow's cookie is sent (and only there)."""
    return f"{settings.api_v1_prefix}/auth/providers/{provider}/callback"


def callback_url(settings: Settings, provider: str) -> str:
    """The redirect URI to register with the provider."""
    return settings.public_url.rstrip("/") + callback_path(settings, provider)


def landing_url(settings: Settings, redirect_to: str | None) -> str:
    """Where the browser lands at the end: `redirect_to` if it is a path (of the
    frontend) or an address on the frontend's or another allowed origin, else
    `OAUTH_REDIRECT_INVALID`; by default FRONTEND_URL + OAUTH_LANDING_PATH."""
    frontend = (settings.frontend_url or settings.public_url).rstrip("/")
    if redirect_to is None:
        return frontend + settings.oauth_landing_path
    parts = urlsplit(redirect_to)
    unsafe = any(char.isspace() or ord(char) < 32 or char == "\\" for char in redirect_to)
    if unsafe or len(redirect_to) > MAX_REDIRECT_LENGTH or parts.fragment:
        raise AppError(ErrorCode.OAUTH_REDIRECT_INVALID)
    if not parts.scheme and not parts.netloc and redirect_to.startswith("/"):
        return frontend + redirect_to
    origins = {_origin(origin) for origin in (frontend, *settings.allowed_origins)}
    web = parts.scheme in ("http", "https") and "@" not in parts.netloc
    if web and _origin(redirect_to) in origins:
        return redirect_to
    raise AppError(ErrorCode.OAUTH_REDIRECT_INVALID)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query."""
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def _client(settings: Settings, provider: Provider) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope=provider.scope,
        redirect_uri=callback_url(settings, provider.name),
        code_challenge_method="S256",
        timeout=settings.oauth_timeout,
    )


async def begin(settings: Settings, provider: Provider, *, redirect_to: str | None) -> Start:
    """Start a sign-in: the provider's authorization URL (state, nonce, PKCE
    challenge) and the flow's cookie."""
    landing = landing_url(settings, redirect_to)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    async with _client(settings, provider) as http:
        try:
            found = await oauth_providers.endpoints(http, provider)
        except AppError as error:
            return Start(with_query(landing, error=error.code), None)
        extra = {} if provider.issuer is None else {"nonce": nonce}
        location, _ = http.create_authorization_url(
            found.authorization, state=state, code_verifier=verifier, **extra
        )
    flow = Flow(
        provider=provider.name, state=state, nonce=nonce, verifier=verifier, landing=landing
    )
    return Start(location, flow_token(settings, flow))


def flow_token(settings: Settings, flow: Flow) -> str:
    """The cookie's value for `flow`: a signed JWT of type `oauth_flow`."""
    now = utcnow()
    return create_token(
        settings,
        token_type="oauth_flow",
        subject=uuid.uuid4(),
        issued_at=now,
        expires_at=now + timedelta(minutes=FLOW_MINUTES),
        claims={"flow": flow.model_dump_json()},
    )


def read_flow(settings: Settings, token: str | None, provider: str) -> Flow | None:
    """The flow a cookie holds if it is an intact, unexpired flow token of `provider`."""
    if not token:
        return None
    try:
        flow = Flow.model_validate_json(decode(settings, token, "oauth_flow", "flow").claim)
    except (InvalidTokenError, ValidationError):
        return None
    return flow if flow.provider == provider else None


async def finish(
    settings: Settings, provider: Provider, *, cookie: str | None, state: str | None,
    code: str | None,
) -> Outcome:  # fmt: skip
    """The provider's answer, checked against the flow's cookie, as an outcome."""
    flow = read_flow(settings, cookie, provider.name)
    if flow is None:
        return Outcome(landing_url(settings, None), error=ErrorCode.OAUTH_STATE_INVALID)
    error = None
    if not code:  # the person declined, or the provider refused: nothing to exchange
        error = ErrorCode.OAUTH_PROVIDER_DENIED
    elif state is None or not hmac.compare_digest(state.encode(), flow.state.encode()):
        error = ErrorCode.OAUTH_STATE_INVALID
    else:
        try:
            identity = await _exchange(settings, provider, flow, code)
        except AppError as failure:
            error = failure.code
        else:
            return Outcome(flow.landing, identity=identity, provider=provider.name)
    return Outcome(flow.landing, error=error, provider=provider.name)


async def _exchange(settings: Settings, provider: Provider, flow: Flow, code: str) -> Identity:
    """Trade `code` and the PKCE verifier for tokens, and read whom they name."""
    async with _client(settings, provider) as http:
        found = await oauth_providers.endpoints(http, provider)
        try:
            token = await http.fetch_token(found.token, code=code, code_verifier=flow.verifier)
        except OAuthError:
            raise AppError(ErrorCode.OAUTH_EXCHANGE_FAILED) from None
        except (httpx2.HTTPError, ValueError):
            raise AppError(ErrorCode.OAUTH_PROVIDER_UNAVAILABLE) from None
        return await oauth_providers.identity(http, provider, found, dict(token), nonce=flow.nonce)
