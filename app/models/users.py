"""Users: the account table and its request/response siblings.

Only the table class `User` has `password_hash`, so no response can contain it.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

import sqlalchemy as sa
from pydantic import ConfigDict, model_validator
from sqlmodel import Field

from app.models.fields import (
    NO_PASSWORD_PREFIX,
    CamelModel,
    Email,
    InputModel,
    Name,
    Omittable,
    OutputModel,
    Password,
    UTCDateTime,
    needs_with,
    new_id,
    timestamp,
)


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
    # Bumped on every email change; mailed links are bound to it, so none revives
    # when an address comes back (A -> B -> A).
    email_changes: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()

    @property
    def email_verified(self) -> bool:
        """Whether the account's current email address has been proven."""
        return self.email_verified_at is not None

    @property
    def has_password(self) -> bool:
        """Whether the account has a password (one made by a sign-in provider has
        none until it sets one through a reset)."""
        return not self.password_hash.startswith(NO_PASSWORD_PREFIX)

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
