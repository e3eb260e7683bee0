"""Sign-in sessions (one row per sign-in; refresh tokens kept only as hashes) and the
attempt counters of sign-in throttling."""

import uuid
from datetime import datetime

from sqlmodel import Field, Relationship, SQLModel

from app.models.fields import OutputModel, UTCDateTime, new_id, timestamp
from app.models.users import User


class AuthSession(SQLModel, table=True):
    __tablename__ = "sessions"

    id: uuid.UUID = new_id()
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    refresh_token_hash: str = Field(max_length=64)
    # The refresh token that the last rotation spent, and when: presented again within
    # REFRESH_GRACE_SECONDS it gets the same successor (tabs refreshing at once).
    previous_refresh_token_hash: str | None = Field(default=None, max_length=64)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = timestamp()
    last_used_at: datetime = timestamp()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    user_agent: str | None = Field(default=None, max_length=255)
    ip_address: str | None = Field(default=None, max_length=45)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # Signed in with a second factor (or proved one since: confirming an enrolment).
    two_factor: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})

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
    # When the checks in flight stop counting: RESERVATION_SECONDS after the latest.
    # (Rows from before reservations expired, and older writers, get the epoch.)
    in_flight_until: datetime = Field(
        sa_type=UTCDateTime,
        nullable=False,
        sa_column_kwargs={"server_default": "1970-01-01 00:00:00.000000"},
    )
