"""Every SQLModel class: the tables and their request/response variants.

Each table class has siblings: `...Create`/`...Update` validate input before a row is
built (table classes skip validation), `...Public` declares what responses show. Only
the table class `User` has `password_hash`, so no response can contain it.
"""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_BYTES = 72  # bcrypt ignores anything longer; refuse instead of truncating


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware timestamp that reads back aware on every database.

    SQLite has no time zones: values are stored as UTC and marked UTC when loaded.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def ensure_storable(value: str) -> str:
    """Refuse text that a database cannot store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _reject_null(value: object) -> object:
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


def _check_password(value: str) -> str:
    if len(value) < PASSWORD_MIN_CHARS:
        raise ValueError(f"must be at least {PASSWORD_MIN_CHARS} characters")
    if len(value.encode("utf-8")) > PASSWORD_MAX_BYTES:
        raise ValueError(f"must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8")
    return value


Email = Annotated[EmailStr, Field(max_length=254), AfterValidator(str.lower)]
Password = Annotated[str, AfterValidator(_check_password)]
Name = Annotated[str, Field(max_length=255)]
SearchText = Annotated[str, Field(max_length=255), AfterValidator(ensure_storable)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


def _timestamp() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class CamelModel(SQLModel):
    """camelCase on the wire (snake_case is accepted on input too).

    Responses are serialized by alias (FastAPI's default); `model_dump()` in Python
    keeps the snake_case field names.
    """

    model_config = ConfigDict(  # type: ignore[assignment]  # SQLModel's TypedDict extends it
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )


class OutputModel(CamelModel):
    """A response body, built from table rows: fields are read by their Python names
    (looking up camelCase names on a row first would only cost time)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=False)


class InputModel(CamelModel):
    """A request body: every string in it must be storable."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return ensure_storable(value) if isinstance(value, str) else value


# Users


class Role(StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"


class UserBase(CamelModel):
    email: str = Field(max_length=254)
    name: str | None = Field(default=None, max_length=255)


class User(UserBase, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    role: Role = Field(
        default=Role.USER,
        sa_type=sa.Enum(Role, name="user_role", native_enum=False, length=16),
    )
    is_active: bool = True
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()

    __table_args__ = (
        sa.Index("ix_users_created_at_id", "created_at", "id"),
        sa.Index("ix_users_updated_at_id", "updated_at", "id"),
        sa.Index("ix_users_name_id", "name", "id"),
    )


class UserRegister(InputModel):
    email: Email
    password: Password
    name: Name | None = None


class UserCreate(UserRegister):
    role: Role = Role.USER
    is_active: bool = True


class UserUpdateMe(InputModel):
    email: Annotated[Email | SkipJsonSchema[None], BeforeValidator(_reject_null)] = None
    name: Name | None = None


class UserUpdate(UserUpdateMe):
    role: Annotated[Role | SkipJsonSchema[None], BeforeValidator(_reject_null)] = None
    is_active: Annotated[bool | SkipJsonSchema[None], BeforeValidator(_reject_null)] = None
    password: Annotated[Password | SkipJsonSchema[None], BeforeValidator(_reject_null)] = None


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

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    refresh_token_hash: str = Field(max_length=64)
    created_at: datetime = _timestamp()
    last_used_at: datetime = _timestamp()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    user_agent: str | None = Field(default=None, max_length=255)
    ip_address: str | None = Field(default=None, max_length=45)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class SessionPublic(OutputModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip_address: str | None
    current: bool


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins counted per key (`email:<address>` or `ip:<address>`) and window."""

    __tablename__ = "login_throttles"

    key: str = Field(primary_key=True, max_length=300)
    failures: int
    window_started_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


# Items: the example resource, owned by a user.


class ItemBase(CamelModel):
    title: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)


class Item(ItemBase, table=True):
    __tablename__ = "items"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()

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
    title: Annotated[Title | SkipJsonSchema[None], BeforeValidator(_reject_null)] = None
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
