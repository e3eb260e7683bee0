"""The Audit log screen: what happened, who did it, to what, when and from where.

Read-only, like the log itself: nothing here creates, edits or deletes an event
(`cleanup` prunes old ones). Newest first; searchable by action, actor, subject and
address, and filtered by action and outcome.
"""

import json
from typing import Any

from markupsafe import Markup
from sqladmin.filters import StaticValuesFilter

from app.admin.views import ServiceView
from app.models import AuditEvent
from app.services.audit import AuditAction, Outcome

BADGES = {
    Outcome.SUCCESS: "bg-green-lt",
    Outcome.FAILURE: "bg-red-lt",
    Outcome.DENIED: "bg-orange-lt",
}


def outcome(row: AuditEvent, _name: str) -> Markup:
    """The outcome as a coloured badge, with its reason when there is one."""
    badge = BADGES.get(Outcome(row.outcome), "bg-secondary-lt")
    shown = Markup('<span class="badge {}">{}</span>').format(badge, row.outcome)
    if row.reason:
        shown += Markup(' <span class="text-secondary">{}</span>').format(row.reason)
    return shown


def changes(row: AuditEvent, _name: str) -> Markup:
    """The recorded values, a line per field: `role: "USER" → "ADMIN"`."""
    lines = []
    for field, change in sorted((row.changes or {}).items()):
        shown = " → ".join(map(_json, change)) if isinstance(change, list) else _json(change)
        lines.append(Markup("<div><code>{}</code>: {}</div>").format(field, shown))
    return Markup("").join(lines)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def subject(row: AuditEvent, _name: str) -> str:
    """What the event is about: its kind and label (or id)."""
    if row.target_type is None:
        return ""
    return f"{row.target_type}: {row.target_label or row.target_id}"


def _choices(values: type[Any]) -> list[tuple[str, str]]:
    return [(value.value, value.value) for value in values]


class AuditEventAdmin(ServiceView, model=AuditEvent):
    name, name_plural, icon = "Audit event", "Audit log", "fa-solid fa-clock-rotate-left"
    noun_plural = "audit events"
    can_create = can_edit = can_delete = False
    column_list = ["occurred_at", "action", "outcome", "actor_email", "target_label", "ip_address"]
    column_details_list = [
        "id",
        "occurred_at",
        "action",
        "outcome",
        "actor_kind",
        "actor_id",
        "actor_email",
        "credential_id",
        "target_label",
        "target_id",
        "ip_address",
        "user_agent",
        "request_id",
        "changes",
    ]
    column_labels = {
        "id": "Id",
        "occurred_at": "When",
        "action": "Action",
        "outcome": "Outcome",
        "actor_kind": "Actor kind",
        "actor_id": "Actor id",
        "actor_email": "Actor",
        "credential_id": "Session or token id",
        "target_label": "Subject",
        "target_id": "Subject id",
        "ip_address": "Client address",
        "user_agent": "User agent",
        "request_id": "Request id",
        "changes": "Changes",
    }
    column_formatters = {"outcome": outcome, "target_label": subject}
    column_formatters_detail = {"outcome": outcome, "target_label": subject, "changes": changes}
    column_searchable_list = ["action", "actor_email", "target_label", "ip_address"]
    column_sortable_list = ["occurred_at", "action"]
    column_default_sort = [("occurred_at", True)]
    column_filters = [
        StaticValuesFilter("action", _choices(AuditAction), title="Action"),
        StaticValuesFilter("outcome", _choices(Outcome), title="Outcome"),
    ]


AuditEventAdmin.identity = "audit-event"
