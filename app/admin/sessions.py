"""The Sessions screen: every sign-in (API and back office), and revoking them.

A session here is a row of the sessions table: whose it is, when it began, was last
used and ends, and from which client. Revoking one ends its tokens (and a
back-office sign-in) at once, like `DELETE /auth/sessions/{id}` does for its owner.
"""

import uuid
from typing import Any

from markupsafe import Markup
from sqladmin import action
from sqladmin.filters import StaticValuesFilter
from sqlalchemy import Select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from app.admin.notices import notify
from app.admin.views import ServiceView, back, parse_ids, when
from app.core.errors import AppError, ErrorCode
from app.models import AuthSession
from app.models.fields import utcnow
from app.services import accounts, sessions


def end_sessions(db: Session, *, session_ids: list[uuid.UUID]) -> None:
    """Revoke each of `session_ids` that is live (`SESSION_NOT_FOUND` for an unknown one)."""
    now = utcnow()
    for session_id in session_ids:
        row = db.get(AuthSession, session_id)
        if row is None:
            raise AppError(ErrorCode.SESSION_NOT_FOUND)
        if row.revoked_at is None and row.expires_at > now:
            owner = accounts.get_user(db, row.user_id)
            sessions.revoke_session(db, owner, session_id=session_id)


def status(row: AuthSession, _name: str) -> Markup:
    """Live, expired, or when it was revoked."""
    if row.revoked_at is not None:
        return Markup('<span class="badge bg-red-lt">revoked {}</span>').format(
            when(row.revoked_at)
        )
    if row.expires_at <= utcnow():
        return Markup('<span class="badge bg-secondary-lt">expired</span>')
    return Markup('<span class="badge bg-green-lt">live</span>')


def client(row: AuthSession, name: str) -> Markup:
    """A user agent or address, cut to fit a list; the whole of it on hover."""
    value = getattr(row, name) or ""
    return Markup('<span class="clipped" title="{}">{}</span>').format(value, value)


class StatusFilter(StaticValuesFilter):
    """Sessions by status: live, revoked or expired."""

    def __init__(self) -> None:
        statuses = [("live", "Live"), ("revoked", "Revoked"), ("expired", "Expired")]
        super().__init__("revoked_at", statuses, title="Status", parameter_name="status")

    async def get_filtered_query(
        self,
        query: Select[Any],
        value: Any,
        model: Any,  # noqa: ARG002 - the signature is SQLAdmin's
    ) -> Select[Any]:
        now, revoked_at = utcnow(), col(AuthSession.revoked_at)
        if value == "live":
            return query.where(revoked_at.is_(None), col(AuthSession.expires_at) > now)
        if value == "revoked":
            return query.where(revoked_at.is_not(None))
        if value == "expired":
            return query.where(revoked_at.is_(None), col(AuthSession.expires_at) <= now)
        return query


class SessionAdmin(ServiceView, model=AuthSession):
    name, name_plural, icon = "Session", "Sessions", "fa-solid fa-key"
    can_create = can_edit = can_delete = False
    column_list = [
        "user",
        "revoked_at",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip_address",
        "user_agent",
    ]
    column_details_list = ["id", *column_list]  # never the refresh token's hash
    column_labels = {
        "id": "Id",
        "user": "User",
        "created_at": "Created",
        "last_used_at": "Last used",
        "expires_at": "Expires",
        "ip_address": "Client address",
        "user_agent": "User agent",
        "revoked_at": "Status",
        "user.email": "user's email",
    }
    column_formatters = {"revoked_at": status, "user_agent": client, "ip_address": client}
    column_formatters_detail = {"revoked_at": status}
    column_searchable_list = ["user.email", "ip_address", "user_agent"]
    column_sortable_list = ["created_at", "last_used_at", "expires_at"]
    column_default_sort = [("last_used_at", True)]
    column_filters = [StatusFilter()]

    @action(name="revoke", label="Revoke", confirmation_message="Revoke {}?")
    async def revoke(self, request: Request) -> Response:
        """End the chosen sessions: their tokens stop working at once."""
        session_ids = parse_ids(request)
        await self.act(request, end_sessions, session_ids=session_ids)
        notify(request, f"{self.counted(len(session_ids))} revoked.")
        return back(request, self.identity)


SessionAdmin.identity = "session"  # SQLAdmin would call it "auth-session"
