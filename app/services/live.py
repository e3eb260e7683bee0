"""Live updates: who may see which change, and the events the change log makes.

A viewer sees what their lists show: their own items (an admin: every item) and, for
an admin who may use the admin routes, the users. A change becomes an event with the
row as it is when read (`ItemPublic`, `UserPublic`: never more than a list shows); a
change whose row is gone by then is left out (its deletion follows in the log).
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, delete, func, select
from sqlmodel.sql.expression import SelectOfScalar

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


class Position(NamedTuple):
    """Where a change stands in the order readers take them: (tx, id), `tx` the
    writing transaction on PostgreSQL (0 on SQLite, where the id order is the commit
    order). On PostgreSQL only the changes of transactions older than every running
    one are read: a transaction that can still add a change has an id at least that
    of the oldest one running, so no change can later appear before a position read."""

    tx: int
    id: int


START = Position(0, 0)
CHANGES_KEPT = 10_000  # as the triggers keep (the migrations' KEPT)
# The oldest transaction running, as the statement's snapshot sees it (PostgreSQL).
OLDEST_RUNNING: sa.ColumnClause[int] = sa.literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint", sa.BigInteger()
)


@dataclass(frozen=True, slots=True)
class Event:
    """A change ready to send: its position, resource, the owner of an item, and its
    JSON."""

    position: Position
    resource: Resource
    owner_id: uuid.UUID | None
    data: str

    @property
    def id(self) -> int:
        """The change's id: the event's `id:`, which a client resumes after."""
        return self.position.id

    def visible_to(self, viewer: Viewer) -> bool:
        """Whether `viewer`'s lists would show the row."""
        if self.resource == Resource.USERS:
            return viewer.users
        return viewer.all_items or self.owner_id == viewer.user_id


@dataclass(frozen=True, slots=True)
class Batch:
    """Changes read: their events (those whose row is gone left out), the position of
    the last one (where to read on), and whether the limit was reached (there may be
    more)."""

    events: list[Event]
    last: Position
    full: bool


def viewer(db: Session, settings: Settings, credential: SessionClaims | str) -> Viewer:
    """What the credential's user may see, if it is still good: a live session of an
    active user, or an API token with the `read` scope; else 401 (403 for a token
    without `read`)."""
    if isinstance(credential, SessionClaims):
        user = sessions.signed_in_user(db, credential)
        if user is None:
            raise AppError(ErrorCode.TOKEN_INVALID)
        session_id = credential.session_id
        return _viewer(
            settings, user, admin_scope=True,
            second_factor=lambda: sessions.has_second_factor(db, session_id),
        )  # fmt: skip
    signed_in = api_tokens.signed_in(db, credential)
    if signed_in is None:
        raise AppError(ErrorCode.TOKEN_INVALID)
    user, token = signed_in
    if TokenScope.READ not in token.scope_set:
        raise AppError(ErrorCode.API_TOKEN_SCOPE)
    admin_scope = TokenScope.ADMIN in token.scope_set
    return _viewer(
        settings, user, admin_scope=admin_scope,
        second_factor=lambda: two_factor.is_enabled(db, user.id),
    )  # fmt: skip


def _viewer(
    settings: Settings, user: User, *, admin_scope: bool, second_factor: Callable[[], bool]
) -> Viewer:
    """As `GET /items` and the admin routes decide (`app.api.deps.get_admin`);
    `second_factor` is asked only of an admin when REQUIRE_ADMIN_2FA is on."""
    admin = user.role == Role.ADMIN
    users = admin and admin_scope and (not settings.require_admin_2fa or second_factor())
    return Viewer(user.id, all_items=admin, users=users)


def latest_position(db: Session) -> Position:
    """Where a reader starts to miss nothing committed later: the position of the
    newest change it can take (START when there is none)."""
    newest = col(Change.tx).desc(), col(Change.id).desc()  # SQLite: tx is empty, by id
    query = _readable(db, select(Change)).order_by(*newest)
    change = db.exec(query.limit(1)).first()
    return START if change is None else _position(change)


def position_of(db: Session, change_id: int) -> Position | None:
    """The position of change `change_id`, if it is kept and readers can take it."""
    change = db.exec(_readable(db, select(Change).where(col(Change.id) == change_id))).first()
    return None if change is None else _position(change)


def read_events(db: Session, *, after: Position, limit: int) -> Batch:
    """The events of up to `limit` changes after `after` that readers can take, in
    their order."""
    tx, id_ = col(Change.tx), col(Change.id)
    if _postgresql(db):
        query = _readable(db, select(Change).where(sa.tuple_(tx, id_) > sa.tuple_(*after)))
        query = query.order_by(tx, id_)
    else:
        query = select(Change).where(id_ > after.id).order_by(id_)
    changes = db.exec(query.limit(limit)).all()
    if not changes:
        return Batch([], after, full=False)
    records = _records(db, changes)
    events = [_event(change, records) for change in changes]
    found = [event for event in events if event is not None]
    return Batch(found, _position(changes[-1]), full=len(changes) == limit)


def prune(db: Session) -> int:
    """Delete the changes older than the newest CHANGES_KEPT that readers can take
    (the triggers delete each change that falls out, when they can); how many."""
    newest = db.exec(select(func.max(Change.id))).one() or 0
    old = delete(Change).where(col(Change.id) <= newest - CHANGES_KEPT)
    if _postgresql(db):
        old = old.where(col(Change.tx) < OLDEST_RUNNING)
    return db.exec(old).rowcount


def _postgresql(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def _readable(db: Session, query: SelectOfScalar[Change]) -> SelectOfScalar[Change]:
    """Only the changes of transactions that are over (on SQLite every committed
    change is)."""
    return query.where(col(Change.tx) < OLDEST_RUNNING) if _postgresql(db) else query


def _position(change: Change) -> Position:
    return Position(change.tx or 0, change.id or 0)


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
    json = body.model_dump_json(by_alias=True)
    return Event(_position(change), resource, change.owner_id, json)
