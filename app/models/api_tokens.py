"""Personal API tokens: for scripts; stored as SHA-256 hashes only."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import field_validator
from sqlmodel import Field

from app.models.fields import CamelModel, InputModel, OutputModel, UTCDateTime, new_id, timestamp


class TokenScope(StrEnum):
    READ = "read"  # safe methods (GET)
    WRITE = "write"  # any method
    ADMIN = "admin"  # admin routes; revoked when the owner stops being an admin


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
