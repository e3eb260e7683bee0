"""The sign-in providers that settings configure, and what the service asks of them
over HTTP (Authlib's client, on the event loop): their endpoints, by OpenID Connect
discovery for Google and the generic issuer; the person a provider vouches for, from
an ID token checked with Authlib (signature by the issuer's JWKS, `iss`, `aud`,
`azp`, `exp`, `iat`, `nonce`, `at_hash`) or, for GitHub, from its API (the user and
their primary email, counted as verified only when GitHub says so).

Discovery documents and key sets are kept for an hour; a key id the kept set lacks
fetches the set again once (the issuer rotated its keys). Every failure to reach a
provider or to make sense of its answer raises an `AppError` with an `OAUTH_` code.
"""

import time
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from app.core.config import Settings
from app.core.errors import AppError, ErrorCode

GITHUB, GOOGLE, OIDC = "github", "google", "oidc"
GOOGLE_ISSUER = "https://accounts.google.com"
GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN_URL = "https://github.com/login/oauth/access_token"
GITHUB_API = "https://api.github.com"
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
OIDC_SCOPE = "openid email profile"
KEEP_SECONDS = 3600
LEEWAY_SECONDS = 60
# ID tokens signed with the issuer's public keys only: never `none`, nor HS* (which
# would make the client secret a signing key).
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


@dataclass(frozen=True, slots=True)
class Provider:
    """A configured provider; `issuer` is None for GitHub (OAuth 2.0, no ID token)."""

    name: str
    display_name: str
    client_id: str
    client_secret: str
    scope: str
    issuer: str | None


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a provider signs people in and answers; the last four for OpenID Connect."""

    authorization: str
    token: str
    issuer: str | None = None
    jwks_uri: str | None = None
    userinfo: str | None = None
    algorithms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Identity:
    """The person a provider vouches for: its stable id of them, and their email."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None


def configured(settings: Settings) -> dict[str, Provider]:
    """The providers whose client ids are set, by name."""
    found: list[Provider] = []
    if settings.github_client_id and settings.github_client_secret:
        secret = settings.github_client_secret.get_secret_value()
        scope = "read:user user:email"
        found.append(Provider(GITHUB, "GitHub", settings.github_client_id, secret, scope, None))
    if settings.google_client_id and settings.google_client_secret:
        secret = settings.google_client_secret.get_secret_value()
        found.append(
            Provider(GOOGLE, "Google", settings.google_client_id, secret, OIDC_SCOPE, GOOGLE_ISSUER)
        )
    if settings.oidc_client_id and settings.oidc_client_secret and settings.oidc_issuer_url:
        secret = settings.oidc_client_secret.get_secret_value()
        found.append(
            Provider(OIDC, settings.oidc_name, settings.oidc_client_id, secret, OIDC_SCOPE,
                     settings.oidc_issuer_url)
        )  # fmt: skip
    return {provider.name: provider for provider in found}


def find(settings: Settings, name: str) -> Provider:
    """The configured provider `name`, or `OAUTH_PROVIDER_UNKNOWN`."""
    provider = configured(settings).get(name)
    if provider is None:
        raise AppError(ErrorCode.OAUTH_PROVIDER_UNKNOWN)
    return provider


_kept: dict[str, tuple[float, Any]] = {}


async def _get_json(http: AsyncOAuth2Client, url: str, *, keep: bool = False, **kwargs: Any) -> Any:
    """The JSON document at `url` (kept for KEEP_SECONDS with `keep`), or
    `OAUTH_PROVIDER_UNAVAILABLE`."""
    kept = _kept.get(url) if keep else None
    if kept is not None and kept[0] > time.monotonic():
        return kept[1]
    try:
        response = await http.request("GET", url, **kwargs)
        response.raise_for_status()
        document = response.json()
    except (httpx2.HTTPError, ValueError):
        raise AppError(ErrorCode.OAUTH_PROVIDER_UNAVAILABLE) from None
    if keep:
        _kept[url] = (time.monotonic() + KEEP_SECONDS, document)
    return document


async def endpoints(http: AsyncOAuth2Client, provider: Provider) -> Endpoints:
    """`provider`'s endpoints: GitHub's own, or from the issuer's discovery document
    (whose `issuer` must be the configured one)."""
    if provider.issuer is None:
        return Endpoints(GITHUB_AUTHORIZE_URL, GITHUB_TOKEN_URL)
    url = f"{provider.issuer}/.well-known/openid-configuration"
    document = await _get_json(http, url, keep=True, withhold_token=True)
    try:
        issuer = document["issuer"]
        found = Endpoints(
            authorization=_url(document["authorization_endpoint"]),
            token=_url(document["token_endpoint"]),
            issuer=issuer,
            jwks_uri=_url(document["jwks_uri"]),
            userinfo=_url(document["userinfo_endpoint"])
            if "userinfo_endpoint" in document
            else None,
            algorithms=tuple(
                SIGNING_ALGORITHMS.intersection(
                    document.get("id_token_signing_alg_values_supported", ["RS256"])
                )
            ),
        )
    except (KeyError, TypeError, ValueError):
        raise AppError(ErrorCode.OAUTH_PROVIDER_UNAVAILABLE) from None
    if not isinstance(issuer, str) or issuer.rstrip("/") != provider.issuer:
        raise AppError(ErrorCode.OAUTH_PROVIDER_UNAVAILABLE)
    return found


def _url(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ValueError("not a URL")
    return value


async def identity(
    http: AsyncOAuth2Client, provider: Provider, found: Endpoints, token: dict[str, Any], *,
    nonce: str,
) -> Identity:  # fmt: skip
    """Whom the provider's `token` (from the code exchange) names."""
    if provider.issuer is None:
        return await github_identity(http)
    claims = await _id_token_claims(http, provider, found, token, nonce=nonce)
    email, verified = claims.get("email"), claims.get("email_verified")
    if email is None and found.userinfo is not None:  # some issuers keep it out of the token
        info = await _get_json(http, found.userinfo)
        if isinstance(info, dict) and info.get("sub") == claims["sub"]:
            email, verified = info.get("email"), info.get("email_verified")
    name = claims.get("name")
    return Identity(
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) else None,
        email_verified=verified is True or verified == "true",
        name=name if isinstance(name, str) else None,
    )


async def _id_token_claims(
    http: AsyncOAuth2Client, provider: Provider, found: Endpoints, token: dict[str, Any], *,
    nonce: str,
) -> CodeIDToken:  # fmt: skip
    """The ID token's claims, once its signature and claims have been checked."""
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or found.jwks_uri is None or not found.algorithms:
        raise AppError(ErrorCode.OAUTH_EXCHANGE_FAILED)
    keys = await _get_json(http, found.jwks_uri, keep=True, withhold_token=True)
    try:
        try:
            decoded = jwt.decode(id_token, KeySet.import_key_set(keys), found.algorithms)
        except InvalidKeyIdError:
            _kept.pop(found.jwks_uri, None)
            keys = await _get_json(http, found.jwks_uri, keep=True, withhold_token=True)
            decoded = jwt.decode(id_token, KeySet.import_key_set(keys), found.algorithms)
        options = {
            "iss": {"essential": True, "value": found.issuer},
            "aud": {"essential": True, "value": provider.client_id},
        }
        access_token = token.get("access_token")
        params = {"nonce": nonce, "client_id": provider.client_id, "access_token": access_token}
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        claims.validate(leeway=LEEWAY_SECONDS)
    except (JoseError, ValueError, TypeError):
        raise AppError(ErrorCode.OAUTH_EXCHANGE_FAILED) from None
    return claims


async def github_identity(http: AsyncOAuth2Client) -> Identity:
    """The GitHub user of `http`'s token, with their primary email if GitHub has
    verified it (`/user/emails`; the profile's public email is never trusted)."""
    user = await _get_json(http, f"{GITHUB_API}/user", headers=GITHUB_HEADERS)
    emails = await _get_json(http, f"{GITHUB_API}/user/emails", headers=GITHUB_HEADERS)
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise AppError(ErrorCode.OAUTH_EXCHANGE_FAILED)
    email, verified = github_primary_email(emails)
    name = user.get("name") or user.get("login")
    return Identity(str(user_id), email, verified, name if isinstance(name, str) else None)


def github_primary_email(emails: object) -> tuple[str | None, bool]:
    """The primary address in GitHub's `/user/emails` list, and whether it is verified."""
    entries = emails if isinstance(emails, list) else []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("primary") is True:
            address = entry.get("email")
            if isinstance(address, str):
                return address, entry.get("verified") is True
    return None, False
