"""Accounts over HTTP: the caller's own (`/users/me`) and admin user management (`/users`).

Thin routes: the rules are in `accounts` (and `credentials` where a password is
checked or hashed).
"""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col

from app import accounts, credentials
from app.deps import Client, SignedIn, SignedInAdmin, State
from app.errors import ADMIN_ONLY, SIGNED_IN, ErrorCode, responses
from app.models import PasswordChange, Role, User, UserCreate, UserPublic, UserUpdate, UserUpdateMe
from app.pagination import PAGE_HEADERS, ListQuery, Page, counted, fetch_page

router = APIRouter(prefix="/users", tags=["users"], responses=responses(*SIGNED_IN))
UserId = Annotated[uuid.UUID, Path(alias="userId", description="The user's id")]


class UserListQuery(ListQuery):
    table = User
    searched = ("email", "name")

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


def users_page(db: Session, _admin: User, query: UserListQuery) -> Page[UserPublic]:
    """The page of users `query` asks for."""
    return fetch_page(db, query, UserPublic)


@router.get("/me", operation_id="users-me-read")
async def read_me(caller: SignedIn) -> UserPublic:
    """The signed-in user's account."""
    return UserPublic.model_validate(await caller.me())


@router.patch(
    "/me",
    operation_id="users-me-update",
    responses=responses(
        ErrorCode.EMAIL_ALREADY_REGISTERED,
        ErrorCode.CURRENT_PASSWORD_WRONG,
        ErrorCode.TOO_MANY_ATTEMPTS,
    ),
)
async def update_me(
    body: UserUpdateMe, caller: SignedIn, state: State, client: Client
) -> UserPublic:
    """Change the caller's name or email (a new email needs `currentPassword`)."""
    user = await credentials.update_profile(
        caller,
        state,
        changes=body.model_dump(exclude_unset=True, exclude={"current_password"}),
        current_password=body.current_password,
        client=client,
    )
    return UserPublic.model_validate(user)


@router.patch(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="users-me-change-password",
    responses=responses(ErrorCode.CURRENT_PASSWORD_WRONG, ErrorCode.TOO_MANY_ATTEMPTS),
)
async def change_my_password(
    body: PasswordChange, caller: SignedIn, state: State, client: Client
) -> None:
    """Change the caller's password; their other sessions are signed out."""
    await credentials.change_password(
        caller,
        state,
        current_password=body.current_password,
        new_password=body.new_password,
        client=client,
    )


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="users-me-delete",
    responses=responses(ErrorCode.LAST_ADMIN),
)
async def delete_me(caller: SignedIn) -> None:
    """Delete the caller's account, with their sessions and items."""
    await caller.run(accounts.delete_user)


@router.get("", operation_id="users-list", responses={**responses(*ADMIN_ONLY), **PAGE_HEADERS})
async def list_users(
    query: Annotated[UserListQuery, Query()], admin: SignedInAdmin, response: Response
) -> Page[UserPublic]:
    """All users, one page at a time; `q` searches email and name."""
    return counted(response, await admin.read(users_page, query))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="users-create",
    responses=responses(*ADMIN_ONLY, ErrorCode.EMAIL_ALREADY_REGISTERED),
)
async def create_user(body: UserCreate, admin: SignedInAdmin, state: State) -> UserPublic:
    """Create an account with any role."""
    return UserPublic.model_validate(await credentials.create_user(admin, state, user_in=body))


@router.get(
    "/{userId}",
    operation_id="users-read",
    responses=responses(*ADMIN_ONLY, ErrorCode.USER_NOT_FOUND),
)
async def read_user(user_id: UserId, admin: SignedInAdmin) -> UserPublic:
    """One user by id."""
    return UserPublic.model_validate(await admin.read(accounts.read_user, user_id=user_id))


@router.patch(
    "/{userId}",
    operation_id="users-update",
    responses=responses(
        *ADMIN_ONLY,
        ErrorCode.USER_NOT_FOUND,
        ErrorCode.EMAIL_ALREADY_REGISTERED,
        ErrorCode.LAST_ADMIN,
    ),
)
async def update_user(
    user_id: UserId, body: UserUpdate, admin: SignedInAdmin, state: State
) -> UserPublic:
    """Change any field; deactivating or setting a password signs the user out everywhere."""
    changes = body.model_dump(exclude_unset=True, exclude={"password"})
    user = await credentials.update_user(
        admin, state, user_id=user_id, changes=changes, password=body.password
    )
    return UserPublic.model_validate(user)


@router.delete(
    "/{userId}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="users-delete",
    responses=responses(*ADMIN_ONLY, ErrorCode.USER_NOT_FOUND, ErrorCode.LAST_ADMIN),
)
async def delete_user(user_id: UserId, admin: SignedInAdmin) -> None:
    """Delete a user with their sessions and items."""
    await admin.run(accounts.delete_user_as_admin, user_id=user_id)
