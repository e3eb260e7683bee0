"""Live updates: who may see which change, and the events the change log makes.

A viewer sees what their lists show: their own items (an admin: every item) and, for
an admin who may use the admin routes, the users. A change becomes an event with the
row as it is when read (`ItemPublic`, `UserPublic`: never more than a list shows); a
change whose row is gone by then is left out (its deletion follows in the log).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from app.core.config import Settings
from app.core.errors import AppError, ErrorCode
from app.core.tokens import SessionClaims
from app.models import Item, ItemPublic, Role, TokenScope, User, UserPublic
from app.models.changes import Change, ChangeType, LiveEvent, Resource
from app.services import api_tokens, sessions, two_factor


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whose stream it is, and what they may see."""

    user_id: uuid.UUID
    all_items: bool
    users: bool


@dataclass(frozen=True, slots=True)
class Event:
    """A change ready to send: its id, resource, the owner of an item, and its JSON."""

    id: int
    resource: Resource
    owner_id: uuid.UUID | None
    data: str

    def visible_to(self, viewer: Viewer) -> bool:
        """Whether `viewer`'s lists would show the row."""
        if self.resource == Resource.USERS:
            return viewer.users
        return viewer.all_items or self.owner_id == viewer.user_id


def viewer(db: Session, settings: Settings, credential: SessionClaims | str) -> Viewer:
    """What the credential's user may see, if it is still good: a live session of an
    active user, or an API token with the `read` scope; else 401 (403 for a token
    without `read`)."""
    if isinstance(credential, SessionClaims):
        found = sessions.signed_in_user(db, credential)
        if found is None:
            raise AppError(ErrorCode.TOKEN_INVALID)
        user, second_factor = found
        return _viewer(settings, user, admin_scope=True, second_factor=second_factor)
    signed_in = api_tokens.signed_in(db, credential)
    if signed_in is None:
        raise AppError(ErrorCode.TOKEN_INVALID)
    user, token = signed_in
    if TokenScope.READ not in token.scope_set:
        raise AppError(ErrorCode.API_TOKEN_SCOPE)
    second_factor = settings.require_admin_2fa and two_factor.is_enabled(db, user.id)
    admin_scope = TokenScope.ADMIN in token.scope_set
    return _viewer(settings, user, admin_scope=admin_scope, second_factor=second_factor)


def _viewer(settings: Settings, user: User, *, admin_scope: bool, second_factor: bool) -> Viewer:
    """As `GET /items` and the admin routes decide (`app.api.deps.get_admin`)."""
    admin = user.role == Role.ADMIN
    users = admin and admin_scope and (second_factor or not settings.require_admin_2fa)
    return Viewer(user.id, all_items=admin, users=users)


def latest_id(db: Session) -> int:
    """The id of the newest change (0 when there is none)."""
    return db.exec(select(func.max(Change.id))).one() or 0


def oldest_id(db: Session) -> int:
    """The id of the oldest change kept (0 when there is none)."""
    return db.exec(select(func.min(Change.id))).one() or 0


def read_events(db: Session, *, after: int, limit: int) -> tuple[list[Event], int]:
    """The events of up to `limit` changes after `after`, in order, and the id of the
    last change read (`after` when there is none)."""
    changes = db.exec(
        select(Change).where(col(Change.id) > after).order_by(col(Change.id)).limit(limit)
    ).all()
    if not changes:
        return [], after
    records = _records(db, changes)
    events = [_event(change, records) for change in changes]
    return [event for event in events if event is not None], changes[-1].id or after


def _records(db: Session, changes: Sequence[Change]) -> dict[uuid.UUID, ItemPublic | UserPublic]:
    """The rows, as lists show them, that the changes name and that still exist."""
    wanted = {
        resource: {c.record_id for c in changes if c.resource == resource and c.type != "deleted"}
        for resource in Resource
    }
    found: dict[uuid.UUID, ItemPublic | UserPublic] = {}
    if wanted[Resource.ITEMS]:
        items = db.exec(select(Item).where(col(Item.id).in_(wanted[Resource.ITEMS])))
        found.update((item.id, ItemPublic.model_validate(item)) for item in items)
    if wanted[Resource.USERS]:
        users = db.exec(select(User).where(col(User.id).in_(wanted[Resource.USERS])))
        found.update((user.id, UserPublic.model_validate(user)) for user in users)
    return found


def _event(change: Change, records: dict[uuid.UUID, ItemPublic | UserPublic]) -> Event | None:
    record = records.get(change.record_id)
    if change.type != ChangeType.DELETED and record is None:
        return None  # deleted since: the deletion comes later
    body = LiveEvent.model_validate(
        {"type": change.type, "resource": change.resource, "id": change.record_id,
         "record": None if change.type == ChangeType.DELETED else record}
    )  # fmt: skip
    resource = Resource(change.resource)
    return Event(change.id or 0, resource, change.owner_id, body.model_dump_json(by_alias=True))
