"""The audit log: who did what to what, when and from where.

`record` adds one event to the session's transaction, so an event exists exactly when
the change it records was committed, and writes it as one JSON log line. The actor is
the one the session acts as (`act_as`: the signed-in user, set by the `CurrentUser`
dependency; the system, for the command line; else nobody known) unless given; the
origin (address, user agent, request id) is the request's. Events keep
ids and an email snapshot, no foreign keys: history outlives the accounts it names.
Before/after values are kept for a few allow-listed fields only; a password change is
recorded as the word `password`, and no secret is ever recorded.
"""

import json
import logging
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, delete, select

from app.core.context import ANONYMOUS, Actor, ActorKind, origin_var
from app.models import AuditEvent, User

logger = logging.getLogger(__name__)

TRACKED_FIELDS = ("email", "name", "role", "is_active", "email_verified")
ACTOR = "actor"  # the key of the session's actor in `Session.info`
PRUNE_BATCH = 1000


class AuditAction(StrEnum):
    """Every action the log records (a closed set)."""

    LOGIN_SUCCEEDED = "auth.login.succeeded"
    LOGIN_FAILED = "auth.login.failed"
    LOGIN_CHALLENGED = "auth.login.challenged"  # the password was right; a code is due
    LOGOUT = "auth.logout"
    REFRESH_REUSED = "auth.refresh.reused"
    SESSION_REVOKED = "session.revoked"
    PASSWORD_CHANGED = "password.changed"
    PASSWORD_RESET_REQUESTED = "password.reset.requested"
    PASSWORD_RESET_COMPLETED = "password.reset.completed"
    EMAIL_VERIFIED = "email.verified"
    EMAIL_CHANGED = "email.changed"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_DEACTIVATED = "user.deactivated"
    USER_DELETED = "user.deleted"
    RESOURCE_DELETED = "resource.deleted"  # a row of a resource (items, ...): its target_type
    API_TOKEN_CREATED = "api_token.created"
    API_TOKEN_REVOKED = "api_token.revoked"
    ADMIN_FORBIDDEN = "admin.forbidden"
    TWO_FACTOR_ENROLMENT_STARTED = "two_factor.enrolment_started"
    TWO_FACTOR_ENABLED = "two_factor.enabled"
    TWO_FACTOR_DISABLED = "two_factor.disabled"
    RECOVERY_CODE_USED = "two_factor.recovery_code_used"
    IDENTITY_LINKED = "identity.linked"  # a sign-in provider's person, to an account
    IDENTITY_UNLINKED = "identity.unlinked"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


def acting(user: User, *, credential_id: uuid.UUID | None = None) -> Actor:
    """`user` (signed in with the session or API token `credential_id`) as an actor."""
    return Actor(ActorKind.USER, user_id=user.id, email=user.email, credential_id=credential_id)


def act_as(db: Session, actor: Actor) -> None:
    """Make `actor` the actor of the events `db` records from now on."""
    db.info[ACTOR] = actor


def changes_of(user: User, before: dict[str, Any], *, password: bool = False) -> dict[str, Any]:
    """The allow-listed fields of `user` that differ from `before`, as {field: [old, new]}."""
    changes: dict[str, Any] = {
        field: [before[field], getattr(user, field)]
        for field in TRACKED_FIELDS
        if field in before and before[field] != getattr(user, field)
    }
    if password:
        changes["password"] = "changed"
    return changes


def snapshot(user: User) -> dict[str, Any]:
    """The allow-listed fields of `user`, to compare after a change."""
    return {field: getattr(user, field) for field in TRACKED_FIELDS}


def record(
    db: Session,
    action: AuditAction,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    reason: str | None = None,
    actor: Actor | None = None,
    target: User | None = None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    target_label: str | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Add the event to the session's transaction and write it to the log."""
    actor, origin = actor or db.info.get(ACTOR, ANONYMOUS), origin_var.get()
    if target is not None:
        target_type, target_id, target_label = "user", target.id, target.email
    event = AuditEvent(
        action=action,
        outcome=outcome,
        reason=reason,
        actor_kind=actor.kind,
        actor_id=actor.user_id,
        actor_email=actor.email,
        credential_id=actor.credential_id,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        target_label=target_label,
        ip_address=origin.ip_address,
        user_agent=origin.user_agent,
        request_id=origin.request_id if origin.request_id != "-" else None,
        changes=json.loads(json.dumps(changes, default=str)) if changes else None,
    )
    db.add(event)
    logger.info(json.dumps(event.model_dump(mode="json", exclude={"id"}) | {"event": "audit"}))


def prune(db: Session, *, retention_days: int, now: datetime) -> int:
    """Delete events older than `retention_days` (0 keeps all), a batch at a time;
    returns how many."""
    if retention_days == 0:
        return 0
    cutoff, deleted = now - timedelta(days=retention_days), 0
    while True:
        batch = select(AuditEvent.id).where(col(AuditEvent.occurred_at) < cutoff).limit(PRUNE_BATCH)
        result = db.exec(delete(AuditEvent).where(col(AuditEvent.id).in_(batch.scalar_subquery())))
        deleted += result.rowcount
        if result.rowcount < PRUNE_BATCH:
            return deleted
        db.flush()
