"""The audit log over HTTP: every event for admins (`/audit-events`), and one's own
security events (`/users/me/security-events`). Read only: nothing writes events but
the changes they record."""

import uuid
from typing import Annotated, Literal

from fastapi import Query, Response
from sqlalchemy import or_
from sqlalchemy.sql import ColumnElement
from sqlmodel import col

from app.api.deps import AdminUser, CurrentUser, SessionDep
from app.api.routing import feature_router
from app.core.errors import ADMIN_ONLY, SIGNED_IN, responses
from app.core.pagination import PAGE_HEADERS, ListQuery, Page, counted, fetch_page
from app.models import AuditEvent, AuditEventPublic
from app.models.fields import DateTimeParameter
from app.services.audit import AuditAction, Outcome

router = feature_router("", "audit")


class AuditListQuery(ListQuery):
    table = AuditEvent
    searched = ("target_label", "actor_email")

    sort: Literal["occurredAt", "-occurredAt"] = "-occurredAt"
    action: AuditAction | None = None
    outcome: Outcome | None = None
    actor_id: uuid.UUID | None = None
    target_type: Annotated[str, Query(max_length=32)] | None = None
    target_id: Annotated[str, Query(max_length=64)] | None = None
    ip: Annotated[str, Query(max_length=45)] | None = None
    since: DateTimeParameter | None = None
    until: DateTimeParameter | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        equal = {
            AuditEvent.action: self.action,
            AuditEvent.outcome: self.outcome,
            AuditEvent.actor_id: self.actor_id,
            AuditEvent.target_type: self.target_type,
            AuditEvent.target_id: self.target_id,
            AuditEvent.ip_address: self.ip,
        }
        filters = [col(column) == value for column, value in equal.items() if value is not None]
        if self.since is not None:
            filters.append(col(AuditEvent.occurred_at) >= self.since)
        if self.until is not None:
            filters.append(col(AuditEvent.occurred_at) < self.until)
        return [*filters, *super().conditions()]


ADMIN_LIST = {**responses(*ADMIN_ONLY), **PAGE_HEADERS}
OWN_LIST = {**responses(*SIGNED_IN), **PAGE_HEADERS}


@router.get("/audit-events", operation_id="audit-events-list", responses=ADMIN_LIST)
def list_events(
    query: Annotated[AuditListQuery, Query()], db: SessionDep, _admin: AdminUser, response: Response
) -> Page[AuditEventPublic]:
    """The audit log, newest first; filter by action, outcome, actor, target, address
    and time (`since` inclusive, `until` exclusive)."""
    return counted(response, fetch_page(db, query, AuditEventPublic))


@router.get(
    "/users/me/security-events", operation_id="users-me-security-events", responses=OWN_LIST
)
def list_my_events(
    query: Annotated[AuditListQuery, Query()], db: SessionDep, user: CurrentUser, response: Response
) -> Page[AuditEventPublic]:
    """The caller's own security events: what they did, and what was done to their
    account (sign-ins, failed ones included), newest first."""
    own = or_(
        col(AuditEvent.actor_id) == user.id,
        (col(AuditEvent.target_type) == "user") & (col(AuditEvent.target_id) == str(user.id)),
    )
    return counted(response, fetch_page(db, query, AuditEventPublic, filters=[own]))
