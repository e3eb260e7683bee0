"""Account rules, with no HTTP in them: the API, the back office, the command line and
tests call these.

Plain functions over a database session (`db`): they flush, and the caller commits.
Rules kept here:
emails are unique (case-insensitive, stored lower-cased); the last active admin can
be neither demoted, deactivated nor deleted; a password changes in one way only
(`set_password`), which signs the user out elsewhere; deactivation signs out at once
and revokes API tokens. Every change is written to the audit log in its transaction.
"""

import uuid
from typing import Any, ClassVar, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, delete, func, select, update

from app.core.config import Settings
from app.core.db import flush_or
from app.core.errors import AppError, ErrorCode
from app.core.pagination import ListFilter
from app.core.passwords import PasswordHasher
from app.models import Role, TokenScope, User, UserCreate, UserRegister
from app.models.fields import utcnow
from app.services import api_tokens, audit, stored_files
from app.services.audit import AuditAction
from app.services.mail import Mail, verification_mail
from app.services.sessions import revoke_user_sessions


class UserFilter(ListFilter):
    """Which users, in which order: the filters and sort of the users list (and export)."""

    table = User
    searched = ("email", "name")
    computed: ClassVar[dict[str, ColumnElement[Any]]] = {
        "email_verified": col(User.email_verified_at).is_not(None)
    }

    sort: Literal[
        "createdAt", "-createdAt", "updatedAt", "-updatedAt", "email", "-email", "name", "-name"
    ] = "-createdAt"
    role: Role | None = None
    is_active: bool | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        filters = []
        if self.role is not None:
            filters.append(col(User.role) == self.role)
        if self.is_active is not None:
            filters.append(col(User.is_active) == self.is_active)
        return [*filters, *super().conditions()]


def find_by_email(db: Session, email: str) -> User | None:
    """The user with this email (any case), if any."""
    return db.exec(select(User).where(User.email == email.lower())).first()


def ensure_email_free(db: Session, email: str, *, status: int | None = None) -> None:
    """`EMAIL_ALREADY_REGISTERED` (with `status` if given) when an account uses
    `email`; checked before hashing a password, so a taken email costs no bcrypt work."""
    if find_by_email(db, email) is not None:
        raise AppError(ErrorCode.EMAIL_ALREADY_REGISTERED, status=status)


def get_user(db: Session, user_id: uuid.UUID) -> User:
    """The user with this id, or `USER_NOT_FOUND`."""
    user = db.get(User, user_id)
    if user is None:
        raise AppError(ErrorCode.USER_NOT_FOUND)
    return user


def create_user(
    db: Session,
    *,
    user_in: UserRegister,
    password_hash: str,
    verified: bool = True,
    taken_status: int | None = None,
) -> User:
    """Insert a validated new user (a `UserCreate` may set role and active), its email
    `verified` or not.

    `EMAIL_ALREADY_REGISTERED` (with `taken_status` if given) when the email is in
    use, also when another request took it meanwhile.
    """
    user = User.model_validate(
        user_in,
        update={
            "password_hash": password_hash,
            "email_verified_at": utcnow() if verified else None,
        },
    )
    db.add(user)
    try:
        db.flush()
    except IntegrityError:
        raise AppError(ErrorCode.EMAIL_ALREADY_REGISTERED, status=taken_status) from None
    audit.record(db, AuditAction.USER_CREATED, target=user, changes={"role": [None, user.role]})
    return user


def _is_active_admin(user: User) -> bool:
    return user.role == Role.ADMIN and user.is_active


def _lock_active_admins(db: Session) -> None:
    # PostgreSQL: concurrent changes to admins wait here, then see each other's
    # result. SQLite has no row locks; its single writer serializes the same steps.
    db.exec(
        select(User.id)
        .where(User.role == Role.ADMIN, col(User.is_active).is_(True))
        .with_for_update()
    ).all()


def _active_admins_left(db: Session) -> int:
    return db.exec(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN, col(User.is_active).is_(True))
    ).one()


def _record_update(db: Session, user: User, changes: dict[str, Any]) -> None:
    """One event per kind of change: role, deactivation, email, the rest."""
    kinds = {"role": AuditAction.USER_ROLE_CHANGED, "email": AuditAction.EMAIL_CHANGED}
    if changes.get("is_active", [None, None])[1] is False:
        kinds["is_active"] = AuditAction.USER_DEACTIVATED
    rest = {field: value for field, value in changes.items() if field not in kinds}
    for field, action in kinds.items():
        if field in changes:
            audit.record(db, action, target=user, changes={field: changes[field]})
    if rest:
        audit.record(db, AuditAction.USER_UPDATED, target=user, changes=rest)


def update_user(
    db: Session, user: User, *, changes: dict[str, Any], verification_required: bool = False
) -> User:
    """Apply validated `changes` (email, name, role, is_active, email_verified) to `user`.

    Raises `EMAIL_ALREADY_REGISTERED`, or `LAST_ADMIN` when the last active admin would
    be demoted or deactivated. Deactivation ends sessions and API tokens at once;
    demotion ends sessions and admin-scoped tokens. A new email voids the links mailed
    before, and is unverified while `verification_required`, unless `email_verified`
    says.
    """
    changes = dict(changes)
    before = audit.snapshot(user)
    if "email_verified" in changes:
        changes["email_verified_at"] = utcnow() if changes.pop("email_verified") else None
    elif verification_required and changes.get("email", user.email) != user.email:
        changes["email_verified_at"] = None
    if not changes:
        return user
    was_admin, was_active_admin = user.role == Role.ADMIN, _is_active_admin(user)
    if was_active_admin:
        _lock_active_admins(db)
    if changes.get("email", user.email) != user.email:
        user.email_changes += 1  # mailed links of the old address die
    user.sqlmodel_update(changes)
    user.updated_at = utcnow()
    db.add(user)
    try:
        flush_or(db, ErrorCode.USER_NOT_FOUND)
    except IntegrityError:
        raise AppError(ErrorCode.EMAIL_ALREADY_REGISTERED) from None
    if was_active_admin and not _is_active_admin(user) and _active_admins_left(db) == 0:
        raise AppError(ErrorCode.LAST_ADMIN)
    _end_lost_access(db, user, deactivated=changes.get("is_active") is False, was_admin=was_admin)
    _record_update(db, user, audit.changes_of(user, before))
    return user


def _end_lost_access(db: Session, user: User, *, deactivated: bool, was_admin: bool) -> None:
    """End what `user` may no longer use: everything once deactivated; sessions and
    admin-scoped tokens once demoted (a later promotion revives neither)."""
    if deactivated:
        revoke_user_sessions(db, user.id)
        api_tokens.revoke_all(db, user.id)
    elif was_admin and user.role != Role.ADMIN:
        revoke_user_sessions(db, user.id)
        api_tokens.revoke_all(db, user.id, scope=TokenScope.ADMIN)


def delete_user(db: Session, user: User) -> None:
    """Delete `user` with their sessions, tokens, items and the items' files; raises
    `LAST_ADMIN`."""
    was_active_admin = _is_active_admin(user)
    if was_active_admin:
        _lock_active_admins(db)
    stored_files.release_owned_by(db, user.id)
    deleted = db.exec(delete(User).where(col(User.id) == user.id))
    if deleted.rowcount != 1:  # another request deleted it meanwhile
        raise AppError(ErrorCode.USER_NOT_FOUND)
    if was_active_admin and _active_admins_left(db) == 0:
        raise AppError(ErrorCode.LAST_ADMIN)
    audit.record(db, AuditAction.USER_DELETED, target=user)


def set_password(
    db: Session,
    user: User,
    *,
    password_hash: str,
    expected_hash: str | None = None,
    expected_email: str | None = None,
    keep_session: uuid.UUID | None = None,
    revoke_tokens: bool = False,
) -> bool:
    """The one way a password changes: store `password_hash` and end every session of
    the user but `keep_session` (and their API tokens if `revoke_tokens`).

    With `expected_hash` (and `expected_email`) it is a compare-and-swap: nothing
    changes (and `False` comes back) unless the stored values are still those, so of
    two concurrent changes made from the same old password, one wins.
    """
    statement = update(User).where(col(User.id) == user.id)
    if expected_hash is not None:
        statement = statement.where(col(User.password_hash) == expected_hash)
    if expected_email is not None:
        statement = statement.where(col(User.email) == expected_email)
    swapped = db.exec(statement.values(password_hash=password_hash, updated_at=utcnow()))
    if swapped.rowcount != 1:
        return False
    revoke_user_sessions(db, user.id, keep=keep_session)
    if revoke_tokens:
        api_tokens.revoke_all(db, user.id)
    return True


def promote_to_admin(db: Session, user: User) -> bool:
    """Make `user` an active admin; `False` when they already were one."""
    if _is_active_admin(user):
        return False
    update_user(db, user, changes={"role": Role.ADMIN, "is_active": True})
    return True


def create_account(db: Session, hasher: PasswordHasher, *, user_in: UserCreate) -> User:
    """An admin's new account, with any role (its email counts as verified). A taken
    email costs no bcrypt work."""
    ensure_email_free(db, user_in.email)
    db.commit()  # no connection is held while bcrypt runs
    return create_user(db, user_in=user_in, password_hash=hasher.hash(user_in.password))


def update_account(
    db: Session,
    hasher: PasswordHasher,
    settings: Settings,
    *,
    user_id: uuid.UUID,
    changes: dict[str, Any],
    password: str | None,
) -> tuple[User, Mail | None]:
    """An admin changes the account `user_id`: any field, and its password when
    `password` is given (which signs its owner out everywhere); a new, unverified
    email gets its verification mail."""
    password_hash = None
    if password is not None:
        db.commit()  # no connection is held while bcrypt runs
        password_hash = hasher.hash(password)
    verification_required = settings.require_email_verification
    user = update_user(
        db, get_user(db, user_id), changes=changes, verification_required=verification_required
    )
    if password_hash is not None:
        set_password(db, user, password_hash=password_hash)
        audit.record(db, AuditAction.USER_UPDATED, target=user, changes={"password": "changed"})
    return user, verification_mail(settings, user) if "email" in changes else None


def delete_by_id(db: Session, *, user_id: uuid.UUID) -> None:
    """Delete the account `user_id` (see `delete_user`)."""
    delete_user(db, get_user(db, user_id))
