"""The tables and their request/response siblings (SQLModel's "multiple models").

Each table class has siblings: `...Create`/`...Update` validate input before a row is
built (table classes skip validation), `...Public` declares what responses show. Only
the table class `User` has `password_hash`, so no response can contain it. Field
types and base classes live in `fields.py`.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

import sqlalchemy as sa
from pydantic import ConfigDict, model_validator
from sqlmodel import Field, Relationship, SQLModel

from app.fields import (
    CamelModel,
    Email,
    InputModel,
    Name,
    Omittable,
    OutputModel,
    Password,
    Title,
    UTCDateTime,
    new_id,
    state_storable_text,
    timestamp,
)

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Users


class Role(StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"


class UserBase(CamelModel):
    email: str = Field(max_length=254)
    name: str | None = Field(default=None, max_length=255)


class User(UserBase, table=True):
    __tablename__ = "users"

    id: uuid.UUID = new_id()
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255, repr=False)  # never in repr() or str()
    role: Role = Field(
        default=Role.USER,
        sa_type=sa.Enum(Role, name="user_role", native_enum=False, length=16),
    )
    is_active: bool = True
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()

    __table_args__ = (
        sa.Index("ix_users_created_at_id", "created_at", "id"),
        sa.Index("ix_users_updated_at_id", "updated_at", "id"),
        sa.Index("ix_users_name_id", "name", "id"),
    )

    def __str__(self) -> str:
        """How pages name a user (e.g. the back office's labels): their email."""
        return self.email


class UserRegister(InputModel):
    email: Email
    password: Password
    name: Name | None = None


class UserCreate(UserRegister):
    role: Role = Role.USER
    is_active: bool = True


class _ProfileUpdate(InputModel):
    email: Omittable[Email] = None
    name: Name | None = None


def _email_needs_current_password(schema: dict[str, Any]) -> None:
    state_storable_text(schema)
    schema["dependentRequired"] = {"email": ["currentPassword"]}


class UserUpdateMe(_ProfileUpdate):
    model_config = ConfigDict(  # type: ignore[assignment]  # SQLModel's TypedDict extends it
        json_schema_extra=_email_needs_current_password
    )

    current_password: Omittable[
        Annotated[str, Field(max_length=1024, description="Required to change `email`")]
    ] = None

    @model_validator(mode="after")
    def _email_needs_current_password(self) -> Self:
        if "email" in self.model_fields_set and self.current_password is None:
            raise ValueError("currentPassword is required to change email")
        return self


class UserUpdate(_ProfileUpdate):
    role: Omittable[Role] = None
    is_active: Omittable[bool] = None
    password: Omittable[Password] = None


class PasswordChange(InputModel):
    current_password: Annotated[str, Field(max_length=1024)]
    new_password: Password


class UserPublic(UserBase, OutputModel):
    id: uuid.UUID
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime


# Sessions: one row per sign-in; refresh tokens are kept only as hashes.


class AuthSession(SQLModel, table=True):
    __tablename__ = "sessions"

    id: uuid.UUID = new_id()
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    refresh_token_hash: str = Field(max_length=64)
    created_at: datetime = timestamp()
    last_used_at: datetime = timestamp()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    user_agent: str | None = Field(default=None, max_length=255)
    ip_address: str | None = Field(default=None, max_length=45)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)

    # Read-only, loaded only when asked for (the back office shows the email).
    user: User = Relationship(sa_relationship_kwargs={"lazy": "raise", "viewonly": True})


class SessionPublic(OutputModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip_address: str | None
    current: bool


class LoginThrottle(SQLModel, table=True):
    """Attempts counted per key (`email:<address>`, `ip:<address>`, ...) and window:
    those that failed (or were spent) and password checks still in flight."""

    __tablename__ = "login_throttles"

    key: str = Field(primary_key=True, max_length=300)
    failures: int
    in_flight: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    window_started_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


# Items: the example resource, owned by a user.


class ItemBase(CamelModel):
    title: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)


class Item(ItemBase, table=True):
    __tablename__ = "items"

    id: uuid.UUID = new_id()
    owner_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()

    # Read-only, loaded only when asked for (the back office shows the email).
    owner: User = Relationship(sa_relationship_kwargs={"lazy": "raise", "viewonly": True})

    __table_args__ = (
        sa.Index("ix_items_owner_id_created_at_id", "owner_id", "created_at", "id"),
        sa.Index("ix_items_owner_id_updated_at_id", "owner_id", "updated_at", "id"),
        sa.Index("ix_items_owner_id_title_id", "owner_id", "title", "id"),
        sa.Index("ix_items_created_at_id", "created_at", "id"),
        sa.Index("ix_items_updated_at_id", "updated_at", "id"),
        sa.Index("ix_items_title_id", "title", "id"),
    )


class ItemCreate(ItemBase, InputModel):
    title: Title


class ItemUpdate(InputModel):
    title: Omittable[Title] = None
    description: str | None = Field(default=None, max_length=10_000)


class ItemPublic(ItemBase, OutputModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


# Authentication payloads


class LoginRequest(InputModel):
    email: Email
    password: Annotated[str, Field(max_length=1024)]


class PasswordGrant(InputModel):
    """The OAuth2 password grant of RFC 6749 (a form), as Swagger UI's "Authorize" sends it."""

    model_config = ConfigDict(alias_generator=None)  # RFC 6749 names
    grant_type: Literal["password"] = "password"
    username: Email = Field(description="The account's email")
    password: Annotated[str, Field(max_length=1024)]
    scope: Annotated[str, Field(max_length=1024)] = ""
    client_id: Annotated[str | None, Field(max_length=255)] = None
    client_secret: Annotated[str | None, Field(max_length=255)] = None


class RefreshRequest(InputModel):
    refresh_token: Annotated[str, Field(max_length=4096)]


class PasswordResetRequest(InputModel):
    email: Email


class PasswordResetConfirm(InputModel):
    token: Annotated[str, Field(max_length=4096)]
    new_password: Password


class TokenPair(CamelModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


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
