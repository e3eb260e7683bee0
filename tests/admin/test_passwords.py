"""A user's password, from their page in the back office: set a new one (typed twice)
as `PATCH /users/{id}` does, or mail them a reset link as `POST /auth/password-reset`
does; both audited with the admin as actor, both behind the sign-in's CSRF token."""

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, col, select

from app.core.state import app_state
from app.models import AuditEvent, User
from app.services.mail import Mail
from tests.admin.pages import COOKIE, CROSS_SITE, BackOffice, alerts, notices
from tests.helpers import (
    NEW_PASSWORD,
    PASSWORD,
    Account,
    confirm_reset,
    fresh,
    login_status,
    me_status,
    refresh_status,
    request_reset,
    session_id,
    settings_of,
    stored,
)


def set_password(
    back_office: BackOffice, account: Account, password: str, again: str | None = None, **kw: Any
) -> Response:
    """Submit the "Set a new password" form of `account`'s page."""
    typed = {"password": password, "password_again": password if again is None else again}
    return back_office.submit(f"/user/password/{account.id}", typed, **kw)


def send_reset_link(back_office: BackOffice, account: Account, **kw: Any) -> Response:
    """Press "Send reset link" on `account`'s page."""
    return back_office.submit(f"/user/reset-link/{account.id}", {}, **kw)


def events(db: Session, action: str) -> list[AuditEvent]:
    """The audit events of `action`, oldest first."""
    found = fresh(db).exec(
        select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.occurred_at))
    )
    rows = list(found.all())
    db.commit()
    return rows


def assert_unchanged(client: TestClient, account: Account) -> None:
    """The old password still works, and the sessions of `account` still live."""
    assert me_status(client, account.access_token) == 200
    assert login_status(client, account.email, PASSWORD) == 200


def back_office_session(back_office: BackOffice) -> str:
    """The id of the back office's own sign-in (its session)."""
    return str(session_id(back_office.client.cookies[COOKIE]))


def test_a_users_page_offers_both(back_office: BackOffice, user: Account) -> None:
    page = back_office.get(f"/user/details/{user.id}")
    assert f'action="http://testserver/admin/user/password/{user.id}"' in page.text
    assert f'action="http://testserver/admin/user/reset-link/{user.id}"' in page.text
    assert page.text.count('type="password"') == 2
    edit = back_office.get(f"/user/edit/{user.id}")
    assert f"/admin/user/details/{user.id}#set-password" in edit.text


# Setting a password


def test_set_a_password_and_the_user_is_signed_out(
    back_office: BackOffice, user: Account, admin: Account, db: Session
) -> None:
    response = set_password(back_office, user, NEW_PASSWORD)
    assert response.status_code == 303, alerts(response)
    page = back_office.next_page(response)
    assert page.url.path == f"/admin/user/details/{user.id}"
    assert notices(page) == [f"New password set for {user.email}; their sessions have ended."]
    client = back_office.client
    assert me_status(client, user.access_token) == 401
    assert refresh_status(client, user.refresh_token) == 401
    assert login_status(client, user.email, PASSWORD) == 401
    assert login_status(client, user.email, NEW_PASSWORD) == 200
    changed = stored(db, User, user.id)
    assert changed is not None
    assert changed.password_hash.startswith("$2b$")
    assert me_status(client, admin.access_token) == 200  # only the user's sessions end
    assert back_office.is_signed_in()


def test_setting_a_password_is_audited_as_the_admins(
    back_office: BackOffice, user: Account, admin: Account, db: Session
) -> None:
    assert set_password(back_office, user, NEW_PASSWORD).status_code == 303
    (event,) = events(db, "user.updated")
    assert (event.actor_email, event.actor_id, event.target_id) == (
        admin.email,
        admin.id,
        str(user.id),
    )
    assert str(event.credential_id) == back_office_session(back_office)
    assert event.changes == {"password": "changed"}
    assert event.outcome == "success"


def test_neither_the_password_nor_its_hash_is_logged(
    back_office: BackOffice, user: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert set_password(back_office, user, NEW_PASSWORD).status_code == 303
    assert set_password(back_office, user, "short!").status_code == 400
    assert set_password(back_office, user, NEW_PASSWORD, "typo " + NEW_PASSWORD).status_code == 400
    assert '"action": "user.updated"' in caplog.text  # the change was logged, as audited
    for secret in [NEW_PASSWORD, "short!", "$2b$"]:
        assert secret not in caplog.text


@pytest.mark.parametrize(
    ("password", "again", "message"),
    [
        ("short", None, "password: must be at least 8 characters"),
        ("é" * 37, None, "password: must be at most 72 bytes in UTF-8"),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords differ"),
        ("", None, "This field is required."),
    ],
    ids=["too-short", "too-long", "mismatch", "empty"],
)
def test_a_password_the_rules_refuse_changes_nothing(
    back_office: BackOffice,
    user: Account,
    db: Session,
    password: str,
    again: str | None,
    message: str,
) -> None:
    response = set_password(back_office, user, password, again)
    assert response.status_code == 400
    assert alerts(response) == [message]
    assert user.email in response.text  # the user's page again
    if password:
        assert password not in response.text  # never shown again
    assert_unchanged(back_office.client, user)
    assert events(db, "user.updated") == []


@pytest.mark.parametrize(
    ("token", "headers"),
    [("", {}), ("0" * 64, {}), (None, CROSS_SITE)],
    ids=["no-token", "wrong-token", "cross-site"],
)
def test_a_forged_request_sets_nothing_and_sends_nothing(
    back_office: BackOffice,
    user: Account,
    outbox: list[Mail],
    db: Session,
    token: str | None,
    headers: dict[str, str],
) -> None:
    assert set_password(back_office, user, NEW_PASSWORD, token=token, **headers).status_code == 403
    assert send_reset_link(back_office, user, token=token, **headers).status_code == 403
    assert_unchanged(back_office.client, user)
    assert outbox == []
    assert events(db, "user.updated") == events(db, "password.reset.requested") == []


def test_an_unknown_user_is_404(back_office: BackOffice, user: Account) -> None:
    for pk in ["9b2b0a4e-8f4e-4f7e-9c3e-2f1d6f0b5a11", "not-an-id"]:
        token = back_office.csrf_token()
        for path in [f"/user/password/{pk}", f"/user/reset-link/{pk}"]:
            typed = {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
            assert back_office.submit(path, typed, token=token).status_code == 404, path


def test_an_admin_setting_their_own_password_signs_in_again(
    back_office: BackOffice, admin: Account
) -> None:
    assert set_password(back_office, admin, NEW_PASSWORD).status_code == 303
    assert not back_office.is_signed_in()  # every session ends, as with the API
    assert back_office.sign_in(admin.email, NEW_PASSWORD).status_code == 303


# Sending a reset link


def test_send_a_reset_link_that_works(
    back_office: BackOffice, user: Account, outbox: list[Mail]
) -> None:
    response = send_reset_link(back_office, user)
    assert response.status_code == 303, alerts(response)
    page = back_office.next_page(response)
    assert page.url.path == f"/admin/user/details/{user.id}"
    # The tests' app has no SMTP server: as in development, the link goes to the log.
    expected = (
        f"SMTP is not set up: the password reset link for {user.email} is in the server's log."
    )
    assert notices(page) == [expected]
    (sent,) = outbox
    assert (sent.kind, sent.to) == ("reset", user.email)
    client = back_office.client
    assert me_status(client, user.access_token) == 200  # nothing changes until it is used
    assert confirm_reset(client, sent.token).status_code == 204
    assert login_status(client, user.email, NEW_PASSWORD) == 200
    assert me_status(client, user.access_token) == 401


def test_a_reset_link_is_audited_as_the_admins(
    back_office: BackOffice, user: Account, admin: Account, outbox: list[Mail], db: Session
) -> None:
    request_reset(back_office.client, user.email)  # through the API: nobody known
    assert send_reset_link(back_office, user).status_code == 303
    anonymous, by_admin = events(db, "password.reset.requested")
    assert (anonymous.actor_kind, anonymous.actor_email) == ("anonymous", None)
    assert (by_admin.actor_kind, by_admin.actor_email) == ("user", admin.email)
    assert str(by_admin.credential_id) == back_office_session(back_office)
    assert by_admin.target_id == str(user.id)
    assert len(outbox) == 2


def test_reset_links_count_against_the_apis_limits(
    back_office: BackOffice, user: Account, outbox: list[Mail], db: Session
) -> None:
    allowed = settings_of(back_office.client).password_reset_max_per_email
    for _ in range(allowed - 1):
        request_reset(back_office.client, user.email)
    assert send_reset_link(back_office, user).status_code == 303
    refused = send_reset_link(back_office, user)
    assert refused.status_code == 400
    assert alerts(refused) == [
        "Too many reset links were asked for lately, for this address or from yours; "
        "try again later."
    ]
    assert len(outbox) == allowed
    assert len(events(db, "password.reset.requested")) == allowed


def test_no_reset_link_for_a_disabled_account(
    back_office: BackOffice, inactive_user: Account, outbox: list[Mail]
) -> None:
    response = send_reset_link(back_office, inactive_user)
    assert response.status_code == 400
    assert alerts(response) == ["Account is disabled"]
    assert outbox == []


def test_in_production_without_smtp_no_link_is_made(
    back_office: BackOffice, user: Account, outbox: list[Mail], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app_state(back_office.client.app).settings
    monkeypatch.setattr(settings, "environment", "production")
    response = send_reset_link(back_office, user)
    assert response.status_code == 400
    assert alerts(response) == ["No mail can be sent: SMTP_HOST is not set."]
    assert outbox == []
