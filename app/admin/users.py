"""The Users screen: list, search, filter, details; create, edit, delete; sign-outs.

Every change goes through the functions the API's admin routes use: the password
is hashed by the service (`accounts.create_account`), emails stay unique, and the
last active admin can be neither demoted, deactivated nor deleted. The password
hash is no column of any page: lists, details and forms name their fields.
"""

import uuid
from typing import Any

from sqladmin import action
from sqladmin.filters import BooleanFilter, StaticValuesFilter
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from app.admin.forms import UserCreateForm, UserEditForm
from app.admin.guard import after_response
from app.admin.views import FormError, ServiceView, back, parse_id, parse_ids, validated
from app.core.errors import ErrorCode
from app.models import Role, User, UserCreate, UserUpdate
from app.services import accounts, mail
from app.services.sessions import revoke_user_sessions

PROFILE = ["email", "name", "role", "is_active"]


def sign_out_everywhere(db: Session, *, user_ids: list[uuid.UUID]) -> None:
    """Revoke every session of each of `user_ids` (`USER_NOT_FOUND` for an unknown one)."""
    for user_id in user_ids:
        revoke_user_sessions(db, accounts.get_user(db, user_id).id)


def _profile(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "email": data.get("email"),
        "name": data.get("name") or None,
        "role": data.get("role"),
        "is_active": bool(data.get("is_active")),
    }


def _user_id(pk: str) -> uuid.UUID:
    user_id = parse_id(pk)
    if user_id is None:
        raise FormError(ErrorCode.USER_NOT_FOUND.message)
    return user_id


class UserAdmin(ServiceView, model=User):
    name, name_plural, icon = "User", "Users", "fa-solid fa-user"
    column_list = ["email", "name", "role", "is_active", "created_at"]
    column_details_list = ["id", *column_list, "updated_at"]  # never the password hash
    column_labels = {
        "id": "Id",
        "email": "Email",
        "name": "Name",
        "role": "Role",
        "is_active": "Active",
        "created_at": "Created",
        "updated_at": "Updated",
    }
    column_formatters = {"role": lambda user, _: user.role.title()}
    column_formatters_detail = column_formatters
    column_searchable_list = ["email", "name"]
    column_sortable_list = ["email", "name", "created_at", "updated_at"]
    column_default_sort = [("created_at", True)]
    column_filters = [
        StaticValuesFilter("role", [(role.value, role.title()) for role in Role], title="Role"),
        BooleanFilter("is_active", title="Active"),
    ]
    form_columns = PROFILE  # what an edit form starts from
    form_create_rules = [*PROFILE, "password", "password_again"]
    form_edit_rules = PROFILE

    async def scaffold_form(self, rules: list[str] | None = None) -> type[UserEditForm]:
        return UserCreateForm if rules and "password" in rules else UserEditForm

    async def insert_model(self, request: Request, data: dict[str, Any]) -> User:
        user_in = validated(UserCreate, {**_profile(data), "password": data.get("password")})
        create = accounts.create_account
        return await self.write_hashing(request, create, self.state.hasher, user_in=user_in)

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> User:
        changes = validated(UserUpdate, _profile(data)).model_dump(exclude_unset=True)
        state = self.state
        user, verification = await self.write(
            request, accounts.update_account, state.hasher, state.settings,
            user_id=_user_id(pk), changes=changes, password=None,
        )  # fmt: skip
        if verification is not None:  # a new address to verify, mailed as the API mails it
            after_response(request, mail.send, state.settings, verification)
        return user

    async def delete_model(self, request: Request, pk: Any) -> None:
        await self.write(request, accounts.delete_by_id, user_id=_user_id(str(pk)))

    @action(
        name="revoke-sessions",
        label="Revoke all sessions",
        confirmation_message="Sign out everywhere?",
    )
    async def revoke_sessions(self, request: Request) -> Response:
        """Sign the chosen users out of every session (API and back office)."""
        await self.act(request, sign_out_everywhere, user_ids=parse_ids(request))
        return back(request, self.identity)
