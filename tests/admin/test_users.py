"""The Users screen: list, search, filter, sort, page; create, edit, delete; and the
account rules of the API, which hold here too."""

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import Session

from app.models import Role, User, UserIdentity
from app.services import accounts
from tests.admin.pages import BackOffice, alerts, ids_on
from tests.helpers import PASSWORD, Account, fresh, login, me_status, stored

PROFILE = {"email": "New@Example.com", "name": "New", "role": "USER", "is_active": "y"}
PASSWORDS = {"password": PASSWORD, "password_again": PASSWORD}
LAST_ADMIN = "The last active admin must remain"


def find(db: Session, email: str) -> User | None:
    user = accounts.find_by_email(fresh(db), email)
    db.commit()
    return user


def edit(account: Account, **changes: str) -> dict[str, str]:
    """The edit form of `account` as it stands, with `changes` ("-": leave it out, as a
    browser does with an unticked box)."""
    form = {"email": account.email, "name": "", "role": account.role.value, "is_active": "y"}
    return {key: value for key, value in {**form, **changes}.items() if value != "-"}


# Reading


def test_the_list_shows_every_user(back_office: BackOffice, admin: Account, user: Account) -> None:
    page = back_office.get("/user/list")
    assert set(ids_on(page, "user")) == {str(admin.id), str(user.id)}
    assert user.email in page.text


@pytest.mark.parametrize(
    ("search", "expected"),
    [("USER@", ["user"]), ("Admi", ["admin"]), ("example.com", ["admin", "user"]), ("%", [])],
)
def test_search_by_email_or_name(
    back_office: BackOffice, admin: Account, user: Account, search: str, expected: list[str]
) -> None:
    accounts_by_name = {"admin": admin, "user": user}
    page = back_office.get(f"/user/list?search={search.replace('%', '%25')}")
    assert set(ids_on(page, "user")) == {str(accounts_by_name[name].id) for name in expected}


def test_filters_by_role_and_active(
    back_office: BackOffice,
    admin: Account,
    user: Account,
    inactive_user: Account,
) -> None:
    assert ids_on(back_office.get("/user/list?role=ADMIN"), "user") == [str(admin.id)]
    inactive = back_office.get("/user/list?is_active=false")
    assert ids_on(inactive, "user") == [str(inactive_user.id)]
    both = back_office.get("/user/list?role=USER&is_active=true")
    assert ids_on(both, "user") == [str(user.id)]


def test_sorts_and_pages(back_office: BackOffice, make_account: Callable[..., Account]) -> None:
    for number in range(26):
        make_account(f"u{number:02}@example.com")
    first = ids_on(back_office.get("/user/list?sortBy=email&sort=asc&pageSize=25"), "user")
    second = ids_on(back_office.get("/user/list?sortBy=email&sort=asc&pageSize=25&page=2"), "user")
    assert len(first) == 25
    assert len(second) == 2
    descending = ids_on(back_office.get("/user/list?sortBy=email&sort=desc&pageSize=50"), "user")
    assert descending == (first + second)[::-1]


def test_details_show_the_account(back_office: BackOffice, user: Account) -> None:
    page = back_office.get(f"/user/details/{user.id}")
    assert page.status_code == 200
    assert user.email in page.text
    assert "Revoke all sessions" in page.text
    assert "None: this account signs in with its password only." in page.text


def test_details_show_the_linked_sign_in_providers(
    back_office: BackOffice, user: Account, db: Session
) -> None:
    db.add(UserIdentity(user_id=user.id, provider="github", subject="1", email="gh@example.com"))
    db.commit()
    page = back_office.get(f"/user/details/{user.id}")
    assert page.status_code == 200
    assert "<td>github</td>" in page.text
    assert "<td>gh@example.com</td>" in page.text


# Creating


def test_create_a_user_whose_password_the_service_hashed(
    back_office: BackOffice, db: Session
) -> None:
    response = back_office.submit("/user/create", {**PROFILE, **PASSWORDS})
    assert response.status_code == 302, alerts(response)
    created = find(db, "new@example.com")
    assert created is not None
    assert created.email == "new@example.com"  # lower-cased, as everywhere
    assert created.role == Role.USER
    assert created.is_active
    assert created.password_hash.startswith("$2b$")
    assert login(back_office.client, "new@example.com")["accessToken"]


def test_create_an_admin(back_office: BackOffice, db: Session) -> None:
    form = {**PROFILE, "role": "ADMIN", **PASSWORDS}
    del form["is_active"]  # unticked
    response = back_office.submit("/user/create", form)
    assert response.status_code == 302, alerts(response)
    created = find(db, "new@example.com")
    assert created is not None
    assert created.role == Role.ADMIN
    assert not created.is_active


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"password": "short", "password_again": "short"},
            "password: must be at least 8 characters",
        ),
        ({"password": "é" * 37, "password_again": "é" * 37}, "password: must be at most 72 bytes"),
        ({"email": "not-an-email"}, "email: value is not a valid email address"),
        ({"email": "user@example.com"}, "Email already registered"),
    ],
)
def test_create_follows_the_rules_of_the_api(
    back_office: BackOffice, user: Account, db: Session, changes: dict[str, str], message: str
) -> None:
    response = back_office.submit("/user/create", {**PROFILE, **PASSWORDS, **changes})
    assert response.status_code == 400
    assert alerts(response)
    assert alerts(response)[0].startswith(message)
    assert find(db, "new@example.com") is None


def test_create_needs_the_password_twice(back_office: BackOffice, db: Session) -> None:
    response = back_office.submit(
        "/user/create", {**PROFILE, "password": PASSWORD, "password_again": "something else"}
    )
    assert response.status_code == 400
    assert "The two passwords differ" in response.text
    assert find(db, "new@example.com") is None


# Editing and deleting


def test_edit_name_email_role_and_active(
    back_office: BackOffice, user: Account, db: Session
) -> None:
    form = edit(user, email="Renamed@Example.com", name="Renamed", role="ADMIN")
    response = back_office.submit(f"/user/edit/{user.id}", form)
    assert response.status_code == 302, alerts(response)
    changed = stored(db, User, user.id)
    assert changed is not None
    assert (changed.email, changed.name, changed.role) == (
        "renamed@example.com",
        "Renamed",
        Role.ADMIN,
    )


def test_deactivating_a_user_signs_them_out(
    back_office: BackOffice, user: Account, db: Session
) -> None:
    response = back_office.submit(f"/user/edit/{user.id}", edit(user, is_active="-"))
    assert response.status_code == 302, alerts(response)
    assert me_status(back_office.client, user.access_token) == 401


def test_edit_refuses_a_taken_email(
    back_office: BackOffice, user: Account, other_user: Account
) -> None:
    form = edit(user, email=other_user.email)
    response = back_office.submit(f"/user/edit/{user.id}", form)
    assert response.status_code == 400
    assert alerts(response) == ["Email already registered"]


def test_delete_a_user(back_office: BackOffice, user: Account, db: Session) -> None:
    response = back_office.delete("user", user.id)
    assert response.status_code == 200
    assert "error" not in parse_qs(urlsplit(response.text).query)
    assert stored(db, User, user.id) is None
    assert me_status(back_office.client, user.access_token) == 401


@pytest.mark.parametrize(
    "changes", [{"role": "USER"}, {"is_active": "-"}], ids=["demote", "deactivate"]
)
def test_the_last_admin_can_be_neither_demoted_nor_deactivated(
    back_office: BackOffice, admin: Account, db: Session, changes: dict[str, str]
) -> None:
    response = back_office.submit(f"/user/edit/{admin.id}", edit(admin, **changes))
    assert response.status_code == 400
    assert alerts(response) == [LAST_ADMIN]
    kept = stored(db, User, admin.id)
    assert kept is not None
    assert kept.role == Role.ADMIN
    assert kept.is_active
    assert back_office.is_signed_in()


def test_the_last_admin_cannot_be_deleted(
    back_office: BackOffice, admin: Account, db: Session
) -> None:
    response = back_office.delete("user", admin.id)
    assert response.status_code == 200
    shown = response.text.removeprefix("http://testserver/admin")
    assert parse_qs(urlsplit(shown).query)["error"] == [LAST_ADMIN]
    assert alerts(back_office.get(shown)) == [LAST_ADMIN]
    assert stored(db, User, admin.id) is not None


def test_another_admin_can_be_demoted(
    back_office: BackOffice, make_account: Callable[..., Account], db: Session
) -> None:
    other = make_account("second-admin@example.com", role=Role.ADMIN)
    response = back_office.submit(f"/user/edit/{other.id}", edit(other, role="USER"))
    assert response.status_code == 302, alerts(response)
    demoted = stored(db, User, other.id)
    assert demoted is not None
    assert demoted.role == Role.USER


def test_revoke_all_sessions_of_users(
    back_office: BackOffice, user: Account, other_user: Account, admin: Account
) -> None:
    response = back_office.action("user", "revoke-sessions", user.id, other_user.id)
    assert response.status_code == 303
    assert me_status(back_office.client, user.access_token) == 401
    assert me_status(back_office.client, other_user.access_token) == 401
    assert me_status(back_office.client, admin.access_token) == 200
    assert back_office.is_signed_in()
