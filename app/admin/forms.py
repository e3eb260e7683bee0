"""The back office's forms: what each page asks for, with the sign-in's CSRF token.

Only the shape of the page lives here (which fields, required, the password typed
twice); the rules (email syntax, password length, title length, ...) stay in the
service's Create/Update models, which check every submission before anything is
written. Every form carries the CSRF token of the current sign-in (`csrf_token`);
the sign-in check refuses a state-changing request without it (`auth.py`).
"""

import hashlib
import hmac
import uuid
from contextvars import ContextVar

from wtforms import BooleanField, Form, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields import EmailField
from wtforms.validators import EqualTo, InputRequired

from app.models import Role

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# The token of the sign-in that the current request was checked against.
csrf_token_var: ContextVar[str] = ContextVar("back_office_csrf_token", default="")

TEXT = {"class": "form-control"}
CHECKBOX = {"class": "form-check-input"}
SELECT = {"class": "form-select"}
NEW_PASSWORD = {**TEXT, "autocomplete": "new-password"}


def csrf_token_for(secret_key: str, session_id: uuid.UUID) -> str:
    """The CSRF token of one back-office sign-in: fixed for the session's life, and
    worthless once the session ends."""
    message = f"back-office-csrf:{session_id}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def current_csrf_token() -> str:
    """The CSRF token of the sign-in serving this request ('' when signed out)."""
    return csrf_token_var.get()


class BackOfficeForm(Form):
    """A form with the sign-in's CSRF token in a hidden field."""

    csrf_token = HiddenField(default=current_csrf_token)


class UserEditForm(BackOfficeForm):
    email = EmailField("Email", [InputRequired()], render_kw=TEXT)
    name = StringField("Name", render_kw=TEXT)
    role = SelectField(
        "Role",
        choices=[(role.value, role.value.title()) for role in Role],
        default=Role.USER.value,
        render_kw=SELECT,
    )
    is_active = BooleanField("Active", default=True, render_kw=CHECKBOX)


def _new_password(label: str) -> PasswordField:
    return PasswordField(label, [InputRequired()], render_kw=NEW_PASSWORD)


def _new_password_again(label: str) -> PasswordField:
    differ = EqualTo("password", "The two passwords differ")
    return PasswordField(label, [InputRequired(), differ], render_kw=NEW_PASSWORD)


class UserCreateForm(UserEditForm):
    password = _new_password("Password")
    password_again = _new_password_again("Password (again)")


class SetPasswordForm(BackOfficeForm):
    """A user's new password, typed twice (on their page, beside their profile)."""

    password = _new_password("New password")
    password_again = _new_password_again("New password (again)")
