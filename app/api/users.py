"""Accounts over HTTP: the caller's own (`/users/me`) and admin user management (`/users`)."""

from typing import Annotated, Any

from fastapi import Query, Response

from app.api.csv_io import CSV_DOWNLOAD, CSV_UPLOAD, CsvResponse, CsvUpload, csv_download
from app.api.deps import (
    AdminUser,
    Client,
    CurrentSessionId,
    CurrentUser,
    Hasher,
    OutboxDep,
    OwnSessionsDep,
    SessionAdmin,
    SessionDep,
    SessionUser,
    SettingsDep,
    SignedInDep,
    UserId,
)
from app.api.routing import feature_router
from app.core.errors import ADMIN_ONLY, PASSWORD_CHECKED, SIGNED_IN, AppError, ErrorCode, responses
from app.core.pagination import PAGE_HEADERS, ListQuery, Page, counted, fetch_page
from app.models import UserCreate, UserPublic, UserUpdate, UserUpdateMe
from app.models.payloads import CsvImported, PasswordChange
from app.services import accounts, exports, imports, profile
from app.services.accounts import UserFilter

router = feature_router("/users", "users", *SIGNED_IN)
DELETE_REFUSED = responses(
    *ADMIN_ONLY, ErrorCode.USER_NOT_FOUND, ErrorCode.LAST_ADMIN, ErrorCode.API_TOKEN_NOT_ALLOWED
)


class UserListQuery(UserFilter, ListQuery):
    """The users list's filters, sort and page."""


# FastAPI makes the UserPublic on the event loop, not on the reading thread: `make bench`
# (f) 0.26 x the limit app when the route made it, 0.29 this way (3 runs each, 2026-12-07).
@router.get("/me", operation_id="users-me-read", response_model=UserPublic)
def read_me(user: CurrentUser) -> Any:
    """The signed-in user's account."""
    return user


@router.patch(
    "/me",
    operation_id="users-me-update",
    responses=responses(
        *PASSWORD_CHECKED, ErrorCode.EMAIL_ALREADY_REGISTERED, ErrorCode.API_TOKEN_NOT_ALLOWED
    ),
)
def update_me(
    body: UserUpdateMe,
    db: SessionDep,
    hasher: Hasher,
    settings: SettingsDep,
    signed_in: SignedInDep,
    client: Client,
    outbox: OutboxDep,
) -> UserPublic:
    """Change the caller's name or email (a new email needs `currentPassword` and a
    signed-in session; with REQUIRE_EMAIL_VERIFICATION it is mailed a link to verify)."""
    user, verification = profile.update_profile(
        db,
        hasher,
        settings,
        signed_in.user,
        session_id=signed_in.session_id,
        changes=body.model_dump(exclude_unset=True, exclude={"current_password"}),
        current_password=body.current_password,
        ip_address=client.ip_address,
    )
    outbox.send(verification)
    return UserPublic.model_validate(user)


@router.patch(
    "/me/password",
    status_code=204,
    operation_id="users-me-change-password",
    responses=responses(*PASSWORD_CHECKED, ErrorCode.API_TOKEN_NOT_ALLOWED),
)
def change_my_password(
    body: PasswordChange,
    db: SessionDep,
    hasher: Hasher,
    settings: SettingsDep,
    user: CurrentUser,
    session_id: CurrentSessionId,
    client: Client,
) -> None:
    """Change the caller's password; their other sessions are signed out."""
    profile.change_password(
        db,
        hasher,
        settings,
        user,
        session_id=session_id,
        current_password=body.current_password,
        new_password=body.new_password,
        ip_address=client.ip_address,
    )


@router.delete(
    "/me",
    status_code=204,
    operation_id="users-me-delete",
    responses=responses(ErrorCode.LAST_ADMIN, ErrorCode.API_TOKEN_NOT_ALLOWED),
)
def delete_me(db: SessionDep, user: SessionUser) -> None:
    """Delete the caller's account, with their sessions and items (not with an API
    token)."""
    accounts.delete_user(db, user)


@router.get("", operation_id="users-list", responses={**responses(*ADMIN_ONLY), **PAGE_HEADERS})
def list_users(
    query: Annotated[UserListQuery, Query()], db: SessionDep, _admin: AdminUser, response: Response
) -> Page[UserPublic]:
    """All users, one page at a time; `q` searches email and name."""
    return counted(response, fetch_page(db, query, UserPublic))


@router.post(
    "",
    status_code=201,
    operation_id="users-create",
    responses=responses(*ADMIN_ONLY, ErrorCode.EMAIL_ALREADY_REGISTERED),
)
def create_user(body: UserCreate, db: SessionDep, hasher: Hasher, _admin: AdminUser) -> UserPublic:
    """Create an account with any role."""
    return UserPublic.model_validate(accounts.create_account(db, hasher, user_in=body))


@router.get(
    "/export.csv",
    operation_id="users-export",
    response_class=CsvResponse,
    responses={**responses(*ADMIN_ONLY), **CSV_DOWNLOAD},
)
def export_users(
    query: Annotated[UserFilter, Query()],
    db: SessionDep,
    _admin: AdminUser,
    sessions: OwnSessionsDep,
    settings: SettingsDep,
) -> CsvResponse:
    """Every user the filters select, as a CSV file: the list's filters and sort, no
    paging, at most CSV_EXPORT_MAX_ROWS rows; the fields of `UserPublic`."""
    limit = settings.csv_export_max_rows
    found = exports.export(db, sessions.read, query, UserPublic, max_rows=limit)
    return csv_download("users", found)


@router.post(
    "/import",
    status_code=201,
    operation_id="users-import",
    responses={**responses(*ADMIN_ONLY, ErrorCode.EMAIL_ALREADY_REGISTERED), **CSV_UPLOAD},
)
def import_users(
    upload: CsvUpload, db: SessionDep, hasher: Hasher, settings: SettingsDep, _admin: AdminUser
) -> CsvImported:
    """Create an account for each row of a CSV file (the fields of `POST /users`:
    `email`, `password`, `name`, `role`, `isActive`); every row is checked first, and
    all are created or none (422 lists every bad row)."""
    max_rows = settings.csv_import_max_rows
    return CsvImported(created=imports.import_users(db, hasher, data=upload, max_rows=max_rows))


@router.get(
    "/{userId:row}",
    operation_id="users-read",
    responses=responses(*ADMIN_ONLY, ErrorCode.USER_NOT_FOUND),
)
def read_user(user_id: UserId, db: SessionDep, _admin: AdminUser) -> UserPublic:
    """One user by id."""
    return UserPublic.model_validate(accounts.get_user(db, user_id))


@router.patch(
    "/{userId:row}",
    operation_id="users-update",
    responses=responses(
        *ADMIN_ONLY,
        ErrorCode.USER_NOT_FOUND,
        ErrorCode.EMAIL_ALREADY_REGISTERED,
        ErrorCode.LAST_ADMIN,
        ErrorCode.API_TOKEN_NOT_ALLOWED,
    ),
)
def update_user(
    user_id: UserId,
    body: UserUpdate,
    db: SessionDep,
    hasher: Hasher,
    settings: SettingsDep,
    admin: AdminUser,
    signed_in: SignedInDep,
    outbox: OutboxDep,
) -> UserPublic:
    """Change any field; deactivating, demoting or setting a password signs the user
    out everywhere, and deactivating revokes their API tokens. With an API token, no
    password or email is set and the token's own account is not changed."""
    takes_over = user_id == admin.id or {"email", "password"} & body.model_fields_set
    if signed_in.session_id is None and takes_over:
        raise AppError(ErrorCode.API_TOKEN_NOT_ALLOWED)
    user, verification = accounts.update_account(
        db,
        hasher,
        settings,
        user_id=user_id,
        changes=body.model_dump(exclude_unset=True, exclude={"password"}),
        password=body.password,
    )
    outbox.send(verification)
    return UserPublic.model_validate(user)


@router.delete(
    "/{userId:row}", status_code=204, operation_id="users-delete", responses=DELETE_REFUSED
)
def delete_user(user_id: UserId, db: SessionDep, _admin: SessionAdmin) -> None:
    """Delete a user with their sessions and items (not with an API token)."""
    accounts.delete_by_id(db, user_id=user_id)
