"""Sign-in providers linked to an account: the caller's own (`/users/me/identities`,
from a signed-in session, never with an API token), and any user's for an admin
(`/users/{userId}/identities`)."""

import uuid
from typing import Annotated

from fastapi import Path

from app.api.deps import AdminUser, SessionDep, SessionUser, UserId
from app.api.routing import feature_router
from app.core.errors import ADMIN_ONLY, SESSION_ONLY, ErrorCode, responses
from app.models import IdentityPublic
from app.services import identities

my_router = feature_router("/users/me/identities", "identities", *SESSION_ONLY)
admin_router = feature_router(
    "/users/{userId}/identities", "identities", *ADMIN_ONLY, ErrorCode.API_TOKEN_SCOPE
)
IdentityId = Annotated[uuid.UUID, Path(alias="identityId", description="The linked provider's id")]


@my_router.get("", operation_id="users-me-identities-list")
def list_my_identities(db: SessionDep, user: SessionUser) -> list[IdentityPublic]:
    """The sign-in providers linked to the caller's account, oldest first."""
    return identities.list_identities(db, user.id)


@my_router.delete(
    "/{identityId}",
    status_code=204,
    operation_id="users-me-identities-unlink",
    responses=responses(ErrorCode.IDENTITY_NOT_FOUND, ErrorCode.LAST_SIGN_IN_METHOD),
)
def unlink_my_identity(identity_id: IdentityId, db: SessionDep, user: SessionUser) -> None:
    """Unlink a sign-in provider, unless it is the account's last way to sign in
    (an account made by a provider has no password until it sets one through a
    password reset)."""
    identities.unlink(db, user, identity_id=identity_id)


@admin_router.get(
    "", operation_id="users-identities-list", responses=responses(ErrorCode.USER_NOT_FOUND)
)
def list_user_identities(
    user_id: UserId, db: SessionDep, _admin: AdminUser
) -> list[IdentityPublic]:
    """Any user's linked sign-in providers."""
    return identities.identities_of(db, user_id=user_id)
