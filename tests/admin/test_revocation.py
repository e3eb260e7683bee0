"""A back-office sign-in is a session like any other: whatever ends the admin's
sessions, or makes them no admin, ends it on its very next request, for good."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.models import Role
from tests.admin.pages import BackOffice
from tests.helpers import API, ME, NEW_PASSWORD, USERS, Account, bearer, change_password

Ending = Callable[[TestClient, Account, Account], None]


def logout_all(client: TestClient, admin: Account, _other: Account) -> None:
    response = client.post(f"{API}/auth/logout-all", headers=admin.headers)
    assert response.status_code == 204


def deactivation(client: TestClient, admin: Account, other: Account) -> None:
    body = {"isActive": False}
    response = client.patch(f"{USERS}/{admin.id}", json=body, headers=other.headers)
    assert response.status_code == 200, response.text


def demotion(client: TestClient, admin: Account, other: Account) -> None:
    body = {"role": "USER"}
    response = client.patch(f"{USERS}/{admin.id}", json=body, headers=other.headers)
    assert response.status_code == 200, response.text


def password_change(client: TestClient, admin: Account, _other: Account) -> None:
    body = {"currentPassword": admin.password, "newPassword": NEW_PASSWORD}
    assert change_password(client, admin.access_token, body).status_code == 204


def password_set_by_another_admin(client: TestClient, admin: Account, other: Account) -> None:
    body = {"password": NEW_PASSWORD}
    response = client.patch(f"{USERS}/{admin.id}", json=body, headers=other.headers)
    assert response.status_code == 200, response.text


def deletion(client: TestClient, admin: Account, other: Account) -> None:
    response = client.delete(f"{USERS}/{admin.id}", headers=other.headers)
    assert response.status_code == 204


@pytest.mark.parametrize(
    "ending",
    [logout_all, deactivation, demotion, password_change, password_set_by_another_admin, deletion],
)
def test_the_back_office_sign_in_ends_at_once(
    back_office: BackOffice,
    admin: Account,
    make_account: Callable[..., Account],
    ending: Ending,
) -> None:
    other = make_account("second-admin@example.com", role=Role.ADMIN)
    assert back_office.is_signed_in()
    token = back_office.csrf_token()
    ending(back_office.client, admin, other)
    assert not back_office.is_signed_in()
    # and nothing can be changed with what the page still holds
    created = back_office.submit("/item/create", {"title": "Too late"}, token=token)
    assert created.status_code == 303
    assert created.headers["location"].endswith("/admin/login")


def test_a_demotion_ends_the_sign_in_for_good(
    back_office: BackOffice, admin: Account, make_account: Callable[..., Account]
) -> None:
    other = make_account("second-admin@example.com", role=Role.ADMIN)
    client = back_office.client
    for role in ("USER", "ADMIN"):
        response = client.patch(f"{USERS}/{admin.id}", json={"role": role}, headers=other.headers)
        assert response.status_code == 200, response.text
    assert not back_office.is_signed_in()  # promoted again, the old cookie stays dead
    assert client.get(ME, headers=bearer(admin.access_token)).status_code == 401


def test_revoking_the_session_on_the_sessions_screen_ends_it(
    back_office: BackOffice, admin: Account, make_account: Callable[..., Account]
) -> None:
    other = make_account("second-admin@example.com", role=Role.ADMIN)
    colleague = BackOffice(TestClient(back_office.client.app)).signed_in(other.email)
    sessions = back_office.client.get(f"{API}/auth/sessions", headers=admin.headers).json()
    assert len(sessions) == 2  # the API sign-in and the back-office one
    ours = next(row["id"] for row in sessions if not row["current"])
    assert colleague.action("session", "revoke", ours).status_code == 303
    assert not back_office.is_signed_in()
    assert colleague.is_signed_in()
    assert back_office.client.get(ME, headers=bearer(admin.access_token)).status_code == 200
