"""Request and response bodies that are no table's sibling: sign-in, tokens, password
change and reset, email verification, and small shared answers."""

from typing import Annotated, Literal

from pydantic import ConfigDict, RootModel
from sqlmodel import Field, SQLModel

from app.models.fields import CamelModel, Email, InputModel, Password


class LoginRequest(InputModel):
    email: Email
    password: Annotated[str, Field(max_length=1024)]


class PasswordGrant(InputModel):
    """The OAuth2 password grant of RFC 6749 (a form), as Swagger UI's "Authorize" sends it."""

    model_config = ConfigDict(alias_generator=None)  # RFC 6749 names
    grant_type: Literal["password"] = "password"
    username: Email = Field(description="The account's email")
    password: Annotated[str, Field(min_length=1, max_length=1024)]  # an empty field is no field
    scope: Annotated[str, Field(max_length=1024)] = ""
    client_id: Annotated[str | None, Field(max_length=255)] = None
    client_secret: Annotated[str | None, Field(max_length=255)] = None


class PasswordChange(InputModel):
    current_password: Annotated[str, Field(max_length=1024)]
    new_password: Password


class RefreshRequest(InputModel):
    refresh_token: Annotated[str, Field(max_length=4096)]


class PasswordResetRequest(InputModel):
    email: Email


class PasswordResetConfirm(InputModel):
    token: Annotated[str, Field(max_length=4096)]
    new_password: Password


class TokenPair(CamelModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)  # tokenType
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class CookieSession(CamelModel):
    """A sign-in in cookie mode: the tokens are in HttpOnly cookies, not here."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    token_type: Literal["cookie"] = "cookie"
    expires_in: int = Field(description="Seconds until the access token (and its cookie) expires")


class SignInAnswer(
    RootModel[Annotated[TokenPair | CookieSession, Field(discriminator="token_type")]]
):
    """The tokens of a sign-in or refresh: a `TokenPair` (bearer mode, the default), or
    a `CookieSession` when the request sent `X-Auth-Mode: cookie`."""


class OAuth2Token(SQLModel):
    """The RFC 6749 token response of `/auth/token` (snake_case by that standard)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


# Small shared responses


class Message(SQLModel):
    detail: str


class Health(SQLModel):
    status: Literal["healthy"] = "healthy"
    version: str
    environment: str


class Readiness(SQLModel):
    status: Literal["ready"] = "ready"


class CsvImported(SQLModel):
    """A CSV import done: how many rows were created."""

    created: int


class EmailVerification(InputModel):
    token: Annotated[str, Field(max_length=4096)]


class VerificationRequest(InputModel):
    email: Email
