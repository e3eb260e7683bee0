"""The settings of the sign-in cookies (cookie mode, `app.api.cookies`): SameSite,
Secure and Domain, checked so that browsers keep them."""

import re
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings

# A cookie Domain: a host name of two labels or more, the last not a number (so no IP).
COOKIE_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]", re.I)


class CookieSettings(BaseSettings):
    """AUTH_COOKIE_*; `Settings` extends it (and says when Secure is on by default)."""

    auth_cookie_samesite: Literal["lax", "strict", "none"] = "lax"
    auth_cookie_secure: bool | None = None  # unset: on in production only
    auth_cookie_domain: str | None = None

    @field_validator("auth_cookie_samesite", mode="before")
    @classmethod
    def _samesite_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("auth_cookie_domain")
    @classmethod
    def _cookie_domain(cls, value: str | None) -> str | None:
        return None if value is None else _check_cookie_domain(value)


def _check_cookie_domain(domain: str) -> str:
    """A cookie `Domain` browsers accept: a host name of two labels or more."""
    if not COOKIE_DOMAIN.fullmatch(domain):
        raise ValueError(
            f"{domain!r} is not a cookie domain browsers accept: write a host name such as "
            "example.com (no leading dot, scheme, port, path or IP address), or leave it "
            "unset for the API's own host"
        )
    return domain.lower()
