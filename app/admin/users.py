"""The Users screen: list, search, filter, details; create, edit, delete; for the rows
ticked, activate, deactivate, delete or sign out everywhere, all or none; export and
import as CSV; on a user's page, set their password or mail them a reset link, and see
the sign-in providers linked to the account.

Every change goes through the functions the API uses: the password is hashed by the
service (`accounts.create_account`, `update_account`) with the API's rules, and a new
one ends the user's sessions as `PATCH /users/{id}` does; a reset link is the token,
mail and limits of `POST /auth/password-reset`, recorded with the admin as actor;
emails stay unique, and the last active admin can be neither demoted, deactivated nor
deleted. No page shows a password or its hash: lists, details and forms name their
fields, and a password typed into a form is never shown again.
"""

import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from pydantic import BaseModel
from sqladmin import action, expose
from sqladmin.filters import BooleanFilter, StaticValuesFilter
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin import bulk
from app.admin.csv_pages import CsvScreen
from app.admin.forms import SetPasswordForm, UserCreateForm, UserEditForm
from app.admin.guard import after_response
from app.admin.notices import notify
from app.admin.views import FormError, back, parse_id, parse_ids, validated
from app.api.deps import get_client
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import AppError, ErrorCode
from app.models import IdentityPublic, Role, User, UserCreate, UserPublic, UserUpdate
from app.models.fields import Password
from app.services import accounts, identities, imports, mail, recovery
from app.services.accounts import UserFilter
from app.services.mail import Mail
from app.services.sessions import ClientInfo

PROFILE = ["email", "name", "role", "is_active"]
NO_SMTP = "No mail can be sent: SMTP_HOST is not set."
RESET_LIMIT = (
    "Too many reset links were asked for lately, for this address or from yours; try again later."
)


class NewPassword(BaseModel):
    """A password to set, by the rule of every password the service sets."""

    password: Password


def reset_link(db: Session, settings: Settings, *, user_id: uuid.UUID, client: ClientInfo) -> Mail:
    """The reset mail of `user_id` (`recovery.reset_mail_for`); a spent budget is said
    in the words of a mail, not of a sign-in."""
    try:
        return recovery.reset_mail_for(db, settings, user_id=user_id, client=client)
    except AppError as error:
        if error.code is ErrorCode.TOO_MANY_ATTEMPTS:
            raise FormError(RESET_LIMIT) from None
        raise


def _profile(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "email": data.get("email"),
        "name": data.get("name") or None,
        "role": data.get("role"),
        "is_active": bool(data.get("is_active")),
    }


def linked_providers(database: Database, user_id: uuid.UUID | None) -> list[IdentityPublic]:
    """The sign-in providers linked to `user_id` (none for a page id that is no UUID)."""
    if user_id is None:
        return []
    with database.session(read_only=True) as db:
        return identities.list_identities(db, user_id)


def _user_id(pk: str) -> uuid.UUID:
    user_id = parse_id(pk)
    if user_id is None:
        raise FormError(ErrorCode.USER_NOT_FOUND.message)
    return user_id


def _reset_sent(settings: Settings, email: str) -> str:
    if settings.smtp_host:
        return f"A password reset link was mailed to {email}."
    return f"SMTP is not set up: the password reset link for {email} is in the server's log."


class UserAdmin(CsvScreen, model=User):
    name, name_plural, icon = "User", "Users", "fa-solid fa-user"
    csv_name, csv_filter, csv_public = "users", UserFilter, UserPublic
    csv_columns = "email, password, name, role (USER or ADMIN), isActive (true or false)"
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
    details_template = "sqladmin/user_details.html"  # with the password forms
    edit_template = "sqladmin/user_edit.html"

    def label(self, row: Any) -> str:
        user: User = row
        return user.email

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

    async def remove(self, request: Request, ids: list[uuid.UUID]) -> None:
        await self.write(request, bulk.delete_users, user_ids=ids)

    async def import_rows(self, request: Request, data: bytes) -> int:
        max_rows = self.state.settings.csv_import_max_rows
        create = imports.import_users
        return await self.write_hashing(
            request, create, self.state.hasher, data=data, max_rows=max_rows
        )

    async def details_context(self, request: Request) -> dict[str, Any]:
        settings = self.state.settings
        user_id = parse_id(request.path_params.get("pk"))
        work = partial(linked_providers, self.state.database, user_id)
        linked = await self.state.threads.run(work, writes=False)
        return {
            "password_form": SetPasswordForm(),
            "reset_minutes": settings.password_reset_expire_minutes,
            "identities": linked,
        }

    @action(
        name="revoke-sessions",
        label="Revoke all sessions",
        confirmation_message="Sign out {} everywhere?",
    )
    async def revoke_sessions(self, request: Request) -> Response:
        """Sign the chosen users out of every session (API and back office)."""
        return await self._act_on_chosen(
            request, bulk.sign_out_everywhere, "{} signed out everywhere."
        )

    @action(name="activate", label="Activate", confirmation_message="Activate {}?")
    async def activate(self, request: Request) -> Response:
        """Activate the chosen users."""
        return await self._set_active(request, active=True)

    @action(
        name="deactivate",
        label="Deactivate",
        confirmation_message="Deactivate {}? They are signed out everywhere.",
    )
    async def deactivate(self, request: Request) -> Response:
        """Deactivate the chosen users: signed out, their API tokens revoked."""
        return await self._set_active(request, active=False)

    async def _set_active(self, request: Request, *, active: bool) -> Response:
        """All of the chosen users, in one transaction, or none (the last admin)."""
        user_ids = parse_ids(request)
        try:
            changed = await self.write(request, bulk.set_active, user_ids=user_ids, active=active)
        except FormError as error:
            return back(request, self.identity, error=str(error))
        notify(request, f"{self.counted(changed)} {'activated' if active else 'deactivated'}.")
        return back(request, self.identity)

    @action(
        name="reset-two-factor",
        label="Turn off two-factor sign-in",
        confirmation_message="Turn off two-factor sign-in for {}? The password alone signs in.",
    )
    async def reset_two_factor(self, request: Request) -> Response:
        """Turn off the chosen users' two-factor sign-in (a lost authenticator)."""
        notice = "Two-factor sign-in turned off for {}."
        return await self._act_on_chosen(request, bulk.turn_off_two_factor, notice)

    async def _act_on_chosen(
        self, request: Request, change: Callable[..., int], notice: str
    ) -> Response:
        """`change` of the chosen users in one transaction, then `notice`, with how
        many users it changed in place of `{}`."""
        changed = await self.act(request, change, user_ids=parse_ids(request))
        notify(request, notice.format(self.counted(changed)))
        return back(request, self.identity)

    @expose("/password/{pk}", methods=["POST"])
    async def set_password(self, request: Request) -> Response:
        """Set the user's password, typed twice, as `PATCH /users/{id}` does: checked
        and hashed by the service, every session of theirs ended, and audited."""
        user = await self._user(request)
        form = SetPasswordForm(await request.form())
        try:
            if not form.validate():
                raise FormError([*form.password.errors, *form.password_again.errors][0])
            password = validated(NewPassword, {"password": form.password.data}).password
            state = self.state
            await self.write_hashing(
                request, accounts.update_account, state.hasher, state.settings,
                user_id=user.id, changes={}, password=password,
            )  # fmt: skip
        except FormError as error:
            problem = {"password_form": form, "password_error": str(error)}
            return await self._page(request, user, problem)
        notify(request, f"New password set for {user.email}; their sessions have ended.")
        return self._to_page_of(request, user)

    @expose("/reset-link/{pk}", methods=["POST"])
    async def send_reset_link(self, request: Request) -> Response:
        """Mail the user a password reset link, as `POST /auth/password-reset` does
        for their address (the same token, mail and limits); audited as the admin's."""
        user = await self._user(request)
        settings = self.state.settings
        try:
            if not settings.smtp_host and settings.environment == "production":
                raise FormError(NO_SMTP)
            client = await get_client(request)
            reset = await self.write(request, reset_link, settings, user_id=user.id, client=client)
        except FormError as error:
            return await self._page(request, user, {"reset_error": str(error)})
        after_response(request, mail.send, settings, reset)
        notify(request, _reset_sent(settings, user.email))
        return self._to_page_of(request, user)

    async def _user(self, request: Request) -> User:
        user: User | None = await self.get_object_for_details(request)
        if user is None:
            raise HTTPException(status_code=404)
        return user

    async def _page(self, request: Request, user: User, problem: dict[str, Any]) -> Response:
        """The user's page again, with what was refused (400)."""
        context = {
            **await self.details_context(request),
            "model_view": self,
            "model": user,
            "title": self.name,
            **problem,
        }
        template = self.details_template
        return await self.templates.TemplateResponse(request, template, context, status_code=400)

    def _to_page_of(self, request: Request, user: User) -> Response:
        page = request.url_for("admin:details", identity=self.identity, pk=user.id)
        return RedirectResponse(page, status_code=303)
