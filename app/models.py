"""The tables and their request/response siblings (SQLModel's "multiple models").

Each table class has siblings: `...Create`/`...Update` validate input before a row is
built (table classes skip validation), `...Public` declares what responses show. Only
the table class `User` has `password_hash`, so no response can contain it. Field
types and base classes live in `fields.py`.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

import sqlalchemy as sa
from pydantic import ConfigDict, field_validator, model_validator
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
    needs_with,
    new_id,
    timestamp,
)

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
    email_verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verification_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()

    @property
    def email_verified(self) -> bool:
        """Whether the account's current email address has been proven."""
        return self.email_verified_at is not None

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


class UserUpdateMe(_ProfileUpdate):
    model_config = ConfigDict(  # type: ignore[assignment]  # SQLModel's TypedDict extends it
        json_schema_extra=needs_with("email", "currentPassword")
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
    email_verified: Omittable[bool] = None
    password: Omittable[Password] = None


class UserPublic(UserBase, OutputModel):
    id: uuid.UUID
    role: Role
    is_active: bool
    email_verified: bool
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


# Personal API tokens: for scripts; stored as SHA-256 hashes only.


class TokenScope(StrEnum):
    READ = "read"  # safe methods (GET)
    WRITE = "write"  # any method
    ADMIN = "admin"  # admin routes, while the owner is an admin


class ApiTokenBase(CamelModel):
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16, description="The token's first characters")
    last4: str = Field(max_length=4, description="Its last 4 characters")
    created_at: datetime = timestamp()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiToken(ApiTokenBase, table=True):
    __tablename__ = "api_tokens"

    id: uuid.UUID = new_id()
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: str = Field(max_length=64)  # comma-separated TokenScope values
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def scope_set(self) -> frozenset[TokenScope]:
        """The token's scopes."""
        return frozenset(TokenScope(scope) for scope in self.scopes.split(",") if scope)


class ApiTokenCreate(InputModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: Annotated[list[TokenScope], Field(min_length=1, max_length=3)]
    expires_in_days: Annotated[int, Field(ge=1, le=365)] = 90


class ApiTokenPublic(ApiTokenBase, OutputModel):
    id: uuid.UUID
    scopes: list[TokenScope]

    @field_validator("scopes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.split(",") if isinstance(value, str) else value


class ApiTokenCreated(ApiTokenPublic):
    token: str = Field(description="The token itself: shown this once, never stored")


# The audit log: who did what to what, kept after the accounts it names are gone.


class AuditEventBase(CamelModel):
    occurred_at: datetime = timestamp()
    action: str = Field(max_length=40)
    outcome: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=64)
    actor_kind: str = Field(max_length=16)
    actor_id: uuid.UUID | None = Field(default=None, index=True)  # no foreign key: history
    actor_email: str | None = Field(default=None, max_length=254)
    credential_id: uuid.UUID | None = None
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    target_label: str | None = Field(default=None, max_length=255)
    ip_address: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=255)
    request_id: str | None = Field(default=None, max_length=128)
    changes: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)


class AuditEvent(AuditEventBase, table=True):
    __tablename__ = "audit_events"

    id: uuid.UUID = new_id()

    __table_args__ = (
        sa.Index("ix_audit_events_occurred_at_id", "occurred_at", "id"),
        sa.Index("ix_audit_events_target", "target_type", "target_id"),
        sa.Index("ix_audit_events_action_occurred_at", "action", "occurred_at"),
    )


class AuditEventPublic(AuditEventBase, OutputModel):
    id: uuid.UUID
