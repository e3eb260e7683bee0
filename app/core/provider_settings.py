"""The settings of sign-in with an external provider: GitHub, Google, and one OpenID
Connect issuer of your choice, each on when its client id is set."""

import ipaddress
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

LOOPBACK_HOSTS = frozenset({"localhost"})


class ProviderSettings(BaseSettings):
    """Client ids and secrets registered with each provider; `Settings` extends it."""

    github_client_id: str | None = Field(None, max_length=255)
    github_client_secret: SecretStr | None = None
    google_client_id: str | None = Field(None, max_length=255)
    google_client_secret: SecretStr | None = None
    oidc_issuer_url: str | None = None
    oidc_client_id: str | None = Field(None, max_length=255)
    oidc_client_secret: SecretStr | None = None
    oidc_name: str = Field("OpenID Connect", min_length=1, max_length=100)
    oauth_landing_path: str = Field("/auth/callback", pattern=r"^/[^/\\?#][^?#\s]*$|^/$")
    oauth_timeout: float = Field(10, gt=0, le=60)

    @field_validator("oidc_issuer_url")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query:
            raise ValueError(f"{value!r} is not an issuer URL such as https://id.example.com")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError("must use https (plain http only on this machine's loopback)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        pairs = {
            "GITHUB": (self.github_client_id, self.github_client_secret),
            "GOOGLE": (self.google_client_id, self.google_client_secret),
            "OIDC": (self.oidc_client_id, self.oidc_client_secret),
        }
        for name, (client_id, secret) in pairs.items():
            if (client_id is None) != (secret is None):
                raise ValueError(
                    f"{name}_CLIENT_ID and {name}_CLIENT_SECRET go together: set both or neither"
                )
        if (self.oidc_client_id is None) != (self.oidc_issuer_url is None):
            raise ValueError("OIDC_ISSUER_URL and OIDC_CLIENT_ID go together: set both or neither")
        return self

    @property
    def providers_enabled(self) -> bool:
        """Whether any sign-in provider is configured."""
        return any((self.github_client_id, self.google_client_id, self.oidc_client_id))


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
