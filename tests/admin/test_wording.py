"""What the pages say: each screen counts in its own noun, an empty list says so,
confirmations name the rows they are about, and every change done says so once on
the next page (and nothing else can put words there)."""

import base64
import json
import re
from collections.abc import Callable

import pytest

from tests.admin.pages import COOKIE, BackOffice, alerts, ids_on, notices
from tests.helpers import Account, session_id
from tests.test_items import create_item

FOOTER = re.compile(
    r'<div class="card-footer list-footer">\s*<p class="m-0 text-muted">\s*(.*?)\s*</p>', re.S
)


def footer(back_office: BackOffice, path: str) -> str:
    """The count under a list, on one line."""
    found = FOOTER.search(back_office.get(path).text)
    assert found is not None, path
    return " ".join(found.group(1).split())


def test_each_screen_counts_in_its_own_noun(
    back_office: BackOffice, make_account: Callable[..., Account], user: Account
) -> None:
    for number in range(26):
        make_account(f"u{number:02}@example.com")
    assert footer(back_office, "/user/list") == "Showing 1 to 25 of 28 users"
    assert footer(back_office, "/user/list?page=2") == "Showing 26 to 28 of 28 users"
    create_item(back_office.client, user, "Only one")
    assert footer(back_office, "/item/list") == "1 item"
    assert footer(back_office, "/session/list").endswith(" sessions")
    assert footer(back_office, "/audit-event/list").endswith(" audit events")


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/item/list", "No items yet."),
        ("/item/list?search=nothing", "No items match."),
        ("/user/list?search=nobody", "No users match."),
        ("/user/list?role=USER", "No users match."),
        ("/session/list?status=expired", "No sessions match."),
        ("/audit-event/list?outcome=denied", "No audit events match."),
    ],
)
def test_an_empty_list_says_so(back_office: BackOffice, path: str, said: str) -> None:
    page = back_office.get(path)
    assert page.status_code == 200
    assert f'<p class="empty-title">{said}</p>' in page.text
    assert "Showing" not in page.text
    assert "<table" not in page.text
    if "match" in said:  # and how to see them all again
        assert f'href="http://testserver/admin/{path.split("/")[1]}/list"' in page.text


def test_deleting_names_the_screens_rows(back_office: BackOffice, user: Account) -> None:
    users = back_office.get("/user/list").text
    assert "Delete selected users" in users
    assert "Delete selected items" not in users
    assert 'data-one="user" data-many="users"' in users
    assert re.search(rf'data-pk="{user.id}"\s+data-label="{re.escape(user.email)}"', users)
    item = create_item(back_office.client, user, "Quarterly <report>")
    items = back_office.get("/item/list").text
    assert "Delete selected items" in items
    assert 'data-label="Quarterly &lt;report&gt;"' in items
    details = back_office.get(f"/item/details/{item['id']}").text
    assert re.search(r'data-many="items"\s+data-label="Quarterly &lt;report&gt;"', details)


def test_action_questions_fit_one_row_or_many(back_office: BackOffice, user: Account) -> None:
    sessions = back_office.get("/session/list").text
    assert 'data-message="Revoke {}?"' in sessions
    assert 'data-one="session" data-many="sessions"' in sessions
    assert "Revoke these sessions?" not in sessions
    one = back_office.get(f"/session/details/{session_id(user.access_token)}").text
    assert "<h3>Revoke this session?</h3>" in one
    assert (
        "<h3>Sign out this user everywhere?</h3>"
        in back_office.get(f"/user/details/{user.id}").text
    )


# Notices


def test_creating_editing_and_deleting_a_user_say_so(back_office: BackOffice) -> None:
    profile = {"email": "new@example.com", "role": "USER", "is_active": "y"}
    passwords = {"password": "a good password", "password_again": "a good password"}
    created = back_office.submit("/user/create", {**profile, **passwords})
    assert created.status_code == 302, alerts(created)
    listed = back_office.next_page(created)
    assert notices(listed) == ['User "new@example.com" created.']
    assert notices(back_office.get("/user/list")) == []  # once
    (new_id,) = ids_on(back_office.get("/user/list?search=new@"), "user")
    edited = back_office.submit(f"/user/edit/{new_id}", {**profile, "email": "renamed@example.com"})
    assert edited.status_code == 302, alerts(edited)
    assert notices(back_office.next_page(edited)) == ['User "renamed@example.com" saved.']
    deleted = back_office.delete("user", new_id)
    assert notices(back_office.next_page(deleted)) == ['User "renamed@example.com" deleted.']


def test_items_say_so_too(back_office: BackOffice, user: Account) -> None:
    created = back_office.submit("/item/create", {"title": "Report"})
    assert notices(back_office.next_page(created)) == ['Item "Report" created.']
    theirs = create_item(back_office.client, user, "Theirs")
    ours = create_item(back_office.client, user, "Ours")
    deleted = back_office.delete("item", theirs["id"], ours["id"])
    assert notices(back_office.next_page(deleted)) == ["2 items deleted."]


def test_a_refused_change_says_nothing_done(
    back_office: BackOffice, user: Account, other_user: Account
) -> None:
    form = {"email": other_user.email, "role": "USER", "is_active": "y"}
    refused = back_office.submit(f"/user/edit/{user.id}", form)
    assert refused.status_code == 400
    assert notices(refused) == []
    assert notices(back_office.get("/user/list")) == []


def test_actions_count_what_they_did(
    back_office: BackOffice, user: Account, other_user: Account
) -> None:
    revoked = back_office.action("session", "revoke", session_id(user.access_token))
    assert notices(back_office.next_page(revoked)) == ["1 session revoked."]
    signed_out = back_office.action("user", "revoke-sessions", user.id, other_user.id)
    assert notices(back_office.next_page(signed_out)) == ["2 users signed out everywhere."]


def test_only_the_back_office_can_put_a_notice_on_a_page(back_office: BackOffice) -> None:
    sign_in = f"{COOKIE}={back_office.client.cookies[COOKIE]}"
    words = base64.urlsafe_b64encode(json.dumps(["Sign in again at evil.example"]).encode())
    for value in [words.decode(), f"{words.decode()}.{'0' * 64}", "."]:
        page = back_office.get("/user/list", Cookie=f"{sign_in}; admin_notices={value}")
        assert page.status_code == 200
        assert notices(page) == []
        assert "evil.example" not in page.text
