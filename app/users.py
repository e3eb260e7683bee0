"""Accounts: the caller's own (`/users/me`) and admin user management (`/users`)."""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, select

from app.deps import AccessClaims, AdminUser, CurrentUser, HasherDep, SessionDep
from app.errors import (
    ADMIN_ONLY,
    AUTHENTICATED,
    EMAIL_REGISTERED,
    bad_request,
    conflict,
    not_found,
    responses,
)
from app.models import (
    PasswordChange,
    Role,
    User,
    UserCreate,
    UserPublic,
    UserRegister,
    UserUpdate,
    UserUpdateMe,
    utcnow,
)
from app.pagination import ListQuery, Page, fetch_page
from app.sessions import revoke_user_sessions


class EmailTakenError(Exception):
    """Another account already uses this email."""


class LastAdminError(Exception):
    """The change would leave no active admin."""


def get_user_by_email(session: Session, email: str) -> User | None:
    """The user with this (lower-cased) email, if any."""
    return session.exec(select(User).where(User.email == email.lower())).first()


def email_taken(session: Session, email: str) -> bool:
    """Whether an account uses `email`. Ends the read, so the connection is not held
    while the caller hashes a password."""
    taken = get_user_by_email(session, email) is not None
    session.commit()
    return taken


def create_user(*, session: Session, user_in: UserRegister, password_hash: str) -> User:
    """Insert a validated new user; raises `EmailTakenError` (also under a race)."""
    user = User.model_validate(user_in, update={"password_hash": password_hash})
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise EmailTakenError from None
    return user


def _is_active_admin(user: User) -> bool:
    return user.role == Role.ADMIN and user.is_active


def _lock_active_admins(session: Session) -> None:
    # PostgreSQL: concurrent changes to admins wait here, then see each other's
    # result. SQLite has no row locks; its single writer serializes the same steps.
    session.exec(
        select(User.id)
        .where(User.role == Role.ADMIN, col(User.is_active).is_(True))
        .with_for_update()
    ).all()


def _active_admins_left(session: Session) -> int:
    return session.exec(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN, col(User.is_active).is_(True))
    ).one()


def update_user(*, session: Session, user: User, changes: dict[str, Any]) -> User:
    """Apply validated `changes` (table field names) to `user` and commit.

    Raises `EmailTakenError`, or `LastAdminError` when the last active admin would be
    demoted or deactivated. Deactivating a user, or setting their password, ends
    their sessions at once.
    """
    if not changes:
        return user
    was_active_admin = _is_active_admin(user)
    if was_active_admin:
        _lock_active_admins(session)
    user.sqlmodel_update(changes)
    user.updated_at = utcnow()
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise EmailTakenError from None
    if was_active_admin and not _is_active_admin(user) and _active_admins_left(session) == 0:
        session.rollback()
        raise LastAdminError
    if changes.get("is_active") is False or "password_hash" in changes:
        revoke_user_sessions(session, user_id=user.id)
    session.commit()
    return user


def delete_user(*, session: Session, user: User) -> None:
    """Delete `user` with their sessions and items; raises `LastAdminError`."""
    was_active_admin = _is_active_admin(user)
    if was_active_admin:
        _lock_active_admins(session)
    session.exec(delete(User).where(col(User.id) == user.id))
    if was_active_admin and _active_admins_left(session) == 0:
        session.rollback()
        raise LastAdminError
    session.commit()


LAST_ADMIN = "The last active admin must remain"


def _apply(session: Session, user: User, changes: dict[str, Any]) -> User:
    try:
        return update_user(session=session, user=user, changes=changes)
    except EmailTakenError:
        raise conflict(EMAIL_REGISTERED) from None
    except LastAdminError:
        raise conflict(LAST_ADMIN) from None


def _delete(session: Session, user: User) -> None:
    try:
        delete_user(session=session, user=user)
    except LastAdminError:
        raise conflict(LAST_ADMIN) from None


router = APIRouter(prefix="/users", tags=["users"], responses=AUTHENTICATED)

EMAIL_CONFLICT = responses({409: "Email already registered"})
UPDATE_CONFLICT = responses({409: "Email already registered, or it is the last active admin"})
DELETE_CONFLICT = responses({409: "It is the last active admin"})
NOT_FOUND = responses({404: "No such user"})


@router.get("/me", operation_id="users-me-read")
async def read_me(user: CurrentUser) -> UserPublic:
    """The signed-in user's account."""
    return UserPublic.model_validate(user)


@router.patch("/me", operation_id="users-me-update", responses=UPDATE_CONFLICT)
def update_me(body: UserUpdateMe, user: CurrentUser, session: SessionDep) -> UserPublic:
    """Change the caller's name or email."""
    user = _apply(session, user, body.model_dump(exclude_unset=True))
    return UserPublic.model_validate(user)


@router.patch(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="users-me-change-password",
    responses=responses({400: "Current password is wrong"}),
)
async def change_my_password(
    body: PasswordChange,
    user: CurrentUser,
    claims: AccessClaims,
    session: SessionDep,
    hasher: HasherDep,
) -> None:
    """Change the caller's password; their other sessions are signed out."""
    if not await hasher.verify(body.current_password, user.password_hash):
        raise bad_request("Current password is wrong")
    password_hash = await hasher.hash(body.new_password)

    def store() -> None:
        user.password_hash = password_hash
        user.updated_at = utcnow()
        session.add(user)
        revoke_user_sessions(session, user_id=user.id, keep=claims.session_id)
        session.commit()

    await run_in_threadpool(store)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="users-me-delete",
    responses=DELETE_CONFLICT,
)
def delete_me(user: CurrentUser, session: SessionDep) -> None:
    """Delete the caller's account, with their sessions and items."""
    _delete(session, user)


UserSort = Literal[
    "createdAt", "-createdAt", "updatedAt", "-updatedAt", "email", "-email", "name", "-name"
]
USER_SORT_COLUMNS = {
    "createdAt": col(User.created_at),
    "updatedAt": col(User.updated_at),
    "email": col(User.email),
    "name": col(User.name),
}


class UserListQuery(ListQuery):
    sort: UserSort = "-createdAt"
    role: Role | None = None
    is_active: bool | None = None


@router.get("", operation_id="users-list", responses=ADMIN_ONLY)
def list_users(
    query: Annotated[UserListQuery, Query()],
    _admin: AdminUser,
    session: SessionDep,
    response: Response,
) -> Page[UserPublic]:
    """All users, one page at a time; `q` searches email and name."""
    filters = []
    if query.role is not None:
        filters.append(col(User.role) == query.role)
    if query.is_active is not None:
        filters.append(col(User.is_active) == query.is_active)
    rows, total = fetch_page(
        session,
        User,
        query,
        response=response,
        filters=filters,
        sort_columns=USER_SORT_COLUMNS,
        search_columns=[col(User.email), col(User.name)],
    )
    return Page[UserPublic](items=rows, total=total, offset=query.offset, limit=query.limit)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="users-create",
    responses={**ADMIN_ONLY, **EMAIL_CONFLICT},
)
async def create_user_as_admin(
    body: UserCreate, _admin: AdminUser, session: SessionDep, hasher: HasherDep
) -> UserPublic:
    """Create an account with any role."""
    if await run_in_threadpool(email_taken, session, body.email):
        raise conflict(EMAIL_REGISTERED)
    password_hash = await hasher.hash(body.password)
    try:
        user = await run_in_threadpool(
            lambda: create_user(session=session, user_in=body, password_hash=password_hash)
        )
    except EmailTakenError:
        raise conflict(EMAIL_REGISTERED) from None
    return UserPublic.model_validate(user)


def get_user_or_404(user_id: uuid.UUID, _admin: AdminUser, session: SessionDep) -> User:
    """The user named in the path, or 404 (admins only)."""
    user = session.get(User, user_id)
    if user is None:
        raise not_found("User")
    return user


TargetUser = Annotated[User, Depends(get_user_or_404)]


@router.get("/{user_id}", operation_id="users-read", responses={**ADMIN_ONLY, **NOT_FOUND})
async def read_user(user: TargetUser) -> UserPublic:
    """One user by id."""
    return UserPublic.model_validate(user)


@router.patch(
    "/{user_id}",
    operation_id="users-update",
    responses={**ADMIN_ONLY, **NOT_FOUND, **UPDATE_CONFLICT},
)
async def update_user_as_admin(
    body: UserUpdate, user: TargetUser, session: SessionDep, hasher: HasherDep
) -> UserPublic:
    """Change any field; deactivating or setting a password signs the user out everywhere."""
    changes = body.model_dump(exclude_unset=True, exclude={"password"})
    if body.password is not None:
        changes["password_hash"] = await hasher.hash(body.password)
    user = await run_in_threadpool(_apply, session, user, changes)
    return UserPublic.model_validate(user)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="users-delete",
    responses={**ADMIN_ONLY, **NOT_FOUND, **DELETE_CONFLICT},
)
def delete_user_as_admin(user: TargetUser, session: SessionDep) -> None:
    """Delete a user with their sessions and items."""
    _delete(session, user)
