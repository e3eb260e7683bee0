"""Personal API tokens (`/users/me/tokens`, and an admin's `/users/{userId}/tokens`):
managed from a signed-in session, never with a token."""

import uuid
from typing import Annotated

from fastapi import Path

from app.api.deps import SessionAdmin, SessionDep, SessionUser, UserId
from app.api.routing import feature_router
from app.core.errors import SESSION_ONLY, ErrorCode, responses
from app.models import ApiTokenCreate, ApiTokenCreated, ApiTokenPublic
from app.services import api_tokens

my_tokens_router = feature_router("/users/me/tokens", "api tokens", *SESSION_ONLY)
tokens_router = feature_router("/users/{userId}/tokens", "api tokens", *SESSION_ONLY)
TokenId = Annotated[uuid.UUID, Path(alias="tokenId", description="The API token's id")]
LIMIT = responses(ErrorCode.API_TOKEN_LIMIT)
NOT_FOUND = responses(ErrorCode.API_TOKEN_NOT_FOUND)
OF_A_USER = responses(
    ErrorCode.ADMIN_REQUIRED, ErrorCode.ADMIN_TWO_FACTOR_REQUIRED, ErrorCode.USER_NOT_FOUND
)
NOT_ONE_OF_THEIRS = responses(
    ErrorCode.ADMIN_REQUIRED,
    ErrorCode.ADMIN_TWO_FACTOR_REQUIRED,
    ErrorCode.USER_NOT_FOUND,
    ErrorCode.API_TOKEN_NOT_FOUND,
)


@my_tokens_router.get("", operation_id="users-me-tokens-list")
def list_my_tokens(db: SessionDep, user: SessionUser) -> list[ApiTokenPublic]:
    """The caller's live API tokens (the tokens themselves are never shown again)."""
    return api_tokens.list_live(db, user)


@my_tokens_router.post("", status_code=201, operation_id="users-me-tokens-create", responses=LIMIT)
def create_my_token(body: ApiTokenCreate, db: SessionDep, user: SessionUser) -> ApiTokenCreated:
    """Make an API token for scripts: send it as `Authorization: Bearer`. It is shown
    in this answer only; keep it like a password."""
    return api_tokens.create(db, user, body)


@my_tokens_router.delete(
    "/{tokenId}", status_code=204, operation_id="users-me-tokens-revoke", responses=NOT_FOUND
)
def revoke_my_token(token_id: TokenId, db: SessionDep, user: SessionUser) -> None:
    """Revoke one of the caller's API tokens: it stops working at once."""
    api_tokens.revoke(db, user, token_id=token_id)


@tokens_router.get("", operation_id="users-tokens-list", responses=OF_A_USER)
def list_user_tokens(user_id: UserId, db: SessionDep, _admin: SessionAdmin) -> list[ApiTokenPublic]:
    """Any user's live API tokens."""
    return api_tokens.user_tokens(db, user_id=user_id)


@tokens_router.delete(
    "/{tokenId}", status_code=204, operation_id="users-tokens-revoke", responses=NOT_ONE_OF_THEIRS
)
def revoke_user_token(
    user_id: UserId, token_id: TokenId, db: SessionDep, _admin: SessionAdmin
) -> None:
    """Revoke any user's API token."""
    api_tokens.revoke_user_token(db, user_id=user_id, token_id=token_id)
