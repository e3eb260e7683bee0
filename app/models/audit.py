"""The audit log: who did what to what, kept after the accounts it names are gone."""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from app.models.fields import CamelModel, OutputModel, new_id, timestamp


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
