"""Accounts over HTTP: the caller's own (`/users/me`) and admin user management (`/users`).

Thin routes: the rules are in `accounts` (and `credentials` where a password is
checked or hashed).
"""

import uuid
from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, BackgroundTasks, Path, Query, Response, status
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col

from app import accounts, api_tokens, credentials, mail
from app.deps import (
    Client,
    SignedIn,
    SignedInAdmin,
    SignedInAdminWithSession,
    SignedInWithSession,
    State,
)
from app.errors import ADMIN_ONLY, SIGNED_IN, ErrorCode, responses
from app.models import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    Role,
    User,
    UserCreate,
    UserPublic,
    UserUpdate,
    UserUpdateMe,
)
from app.pagination import PAGE_HEADERS, ListQuery, Page, counted, fetch_page
from app.payloads import PasswordChange

router = APIRouter(prefix="/users", tags=["users"], responses=responses(*SIGNED_IN))
UserId = Annotated[uuid.UUID, Path(alias="userId", description="The user's id")]
TokenId = Annotated[uuid.UUID, Path(alias="tokenId", description="The API token's id")]


class UserListQuery(ListQuery):
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
        ErrorCode.API_TOKEN_NOT_ALLOWED,
        ErrorCode.TOO_MANY_ATTEMPTS,
    ),
)
async def update_me(
    body: UserUpdateMe, caller: SignedIn, state: State, client: Client, background: BackgroundTasks
) -> UserPublic:
    """Change the caller's name or email (a new email needs `currentPassword` and a
    signed-in session; with REQUIRE_EMAIL_VERIFICATION it is mailed a link to verify)."""
    user, verification = await credentials.update_profile(
        caller,
        state,
        changes=body.model_dump(exclude_unset=True, exclude={"current_password"}),
        current_password=body.current_password,
        client=client,
    )
    if verification is not None:
        background.add_task(mail.send, state.settings, verification)
    return UserPublic.model_validate(user)


PASSWORD_REFUSED = responses(
    ErrorCode.CURRENT_PASSWORD_WRONG, ErrorCode.API_TOKEN_NOT_ALLOWED, ErrorCode.TOO_MANY_ATTEMPTS
)


@router.patch(
    "/me/password",
    status_code=204,
    operation_id="users-me-change-password",
    responses=PASSWORD_REFUSED,
)
async def change_my_password(
    body: PasswordChange, caller: SignedInWithSession, state: State, client: Client
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
    user_id: UserId,
    body: UserUpdate,
    admin: SignedInAdmin,
    state: State,
    background: BackgroundTasks,
) -> UserPublic:
    """Change any field; deactivating or setting a password signs the user out
    everywhere, and deactivating revokes their API tokens."""
    changes = body.model_dump(exclude_unset=True, exclude={"password"})
    user, verification = await credentials.update_user(
        admin, state, user_id=user_id, changes=changes, password=body.password
    )
    if verification is not None:
        background.add_task(mail.send, state.settings, verification)
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


# Personal API tokens: managed from a signed-in session, never with a token.


SESSION_ONLY = responses(*SIGNED_IN, ErrorCode.API_TOKEN_NOT_ALLOWED)
my_tokens_router = APIRouter(prefix="/users/me/tokens", tags=["api tokens"], responses=SESSION_ONLY)
tokens_router = APIRouter(
    prefix="/users/{userId}/tokens", tags=["api tokens"], responses=SESSION_ONLY
)
LIMIT = responses(ErrorCode.API_TOKEN_LIMIT)
NOT_FOUND = responses(ErrorCode.API_TOKEN_NOT_FOUND)
OF_A_USER = responses(ErrorCode.ADMIN_REQUIRED, ErrorCode.USER_NOT_FOUND)
NOT_ONE_OF_THEIRS = responses(
    ErrorCode.ADMIN_REQUIRED, ErrorCode.USER_NOT_FOUND, ErrorCode.API_TOKEN_NOT_FOUND
)


@my_tokens_router.get("", operation_id="users-me-tokens-list")
async def list_my_tokens(caller: SignedInWithSession) -> list[ApiTokenPublic]:
    """The caller's live API tokens (the tokens themselves are never shown again)."""
    return await caller.read(api_tokens.list_live)


@my_tokens_router.post("", status_code=201, operation_id="users-me-tokens-create", responses=LIMIT)
async def create_my_token(body: ApiTokenCreate, caller: SignedInWithSession) -> ApiTokenCreated:
    """Make an API token for scripts: send it as `Authorization: Bearer`. It is shown
    in this answer only; keep it like a password."""
    return await caller.run(api_tokens.create, body)


@my_tokens_router.delete(
    "/{tokenId}", status_code=204, operation_id="users-me-tokens-revoke", responses=NOT_FOUND
)
async def revoke_my_token(token_id: TokenId, caller: SignedInWithSession) -> None:
    """Revoke one of the caller's API tokens: it stops working at once."""
    await caller.run(api_tokens.revoke, token_id=token_id)


@tokens_router.get("", operation_id="users-tokens-list", responses=OF_A_USER)
async def list_user_tokens(
    user_id: UserId, admin: SignedInAdminWithSession
) -> list[ApiTokenPublic]:
    """Any user's live API tokens."""
    return await admin.read(api_tokens.user_tokens, user_id=user_id)


@tokens_router.delete(
    "/{tokenId}", status_code=204, operation_id="users-tokens-revoke", responses=NOT_ONE_OF_THEIRS
)
async def revoke_user_token(
    user_id: UserId, token_id: TokenId, admin: SignedInAdminWithSession
) -> None:
    """Revoke any user's API token."""
    await admin.run(api_tokens.revoke_user_token, user_id=user_id, token_id=token_id)
