"""The Items screen: everyone's items with their owners; create, edit and delete
through the item units of the API, as the signed-in admin."""

import pytest
from sqlmodel import Session

from app.models.items import Item
from tests.admin.pages import BackOffice, alerts, ids_on
from tests.helpers import Account, stored
from tests.test_items import create_item


def test_the_list_shows_every_item_with_its_owner(
    back_office: BackOffice, user: Account, other_user: Account
) -> None:
    mine = create_item(back_office.client, user, "User's item")
    theirs = create_item(back_office.client, other_user, "Other's item")
    page = back_office.get("/item/list")
    assert set(ids_on(page, "item")) == {mine["id"], theirs["id"]}
    assert user.email in page.text
    assert other_user.email in page.text
    assert f"/admin/user/details/{user.id}" in page.text


def test_search_by_title_or_owner_and_sort(
    back_office: BackOffice, user: Account, other_user: Account
) -> None:
    alpha = create_item(back_office.client, user, "Alpha 100%")
    beta = create_item(back_office.client, other_user, "Beta")
    assert ids_on(back_office.get("/item/list?search=alpha"), "item") == [alpha["id"]]
    assert ids_on(back_office.get("/item/list?search=100%25"), "item") == [alpha["id"]]
    assert ids_on(back_office.get("/item/list?search=_"), "item") == []
    assert ids_on(back_office.get("/item/list?search=other@"), "item") == [beta["id"]]
    by_title = back_office.get("/item/list?sortBy=title&sort=desc")
    assert ids_on(by_title, "item") == [beta["id"], alpha["id"]]


def test_create_one_owned_by_the_admin(
    back_office: BackOffice, admin: Account, db: Session
) -> None:
    response = back_office.submit("/item/create", {"title": "  Made here  ", "description": "d"})
    assert response.status_code == 302, alerts(response)
    (item_id,) = ids_on(back_office.get("/item/list"), "item")
    item = stored(db, Item, item_id)
    assert item is not None
    assert (item.title, item.description, item.owner_id) == ("Made here", "d", admin.id)


def test_create_follows_the_rules_of_the_api(back_office: BackOffice) -> None:
    for title, message in [("   ", "title: "), ("x" * 256, "title: ")]:
        response = back_office.submit("/item/create", {"title": title})
        assert response.status_code == 400
        assert alerts(response)[0].startswith(message)
    assert ids_on(back_office.get("/item/list"), "item") == []


def test_edit_another_users_item(back_office: BackOffice, user: Account, db: Session) -> None:
    item = create_item(back_office.client, user, "Before", description="old")
    form = back_office.get(f"/item/edit/{item['id']}")
    assert 'value="Before"' in form.text
    response = back_office.submit(f"/item/edit/{item['id']}", {"title": "After", "description": ""})
    assert response.status_code == 302, alerts(response)
    changed = stored(db, Item, item["id"])
    assert changed is not None
    assert (changed.title, changed.description, changed.owner_id) == ("After", None, user.id)


def test_delete_one(back_office: BackOffice, user: Account, db: Session) -> None:
    item = create_item(back_office.client, user)
    assert back_office.delete("item", item["id"]).status_code == 200
    assert stored(db, Item, item["id"]) is None


def test_details_page(back_office: BackOffice, user: Account) -> None:
    item = create_item(back_office.client, user, "Shown", description="In full")
    page = back_office.get(f"/item/details/{item['id']}")
    assert page.status_code == 200
    assert "In full" in page.text
    assert user.email in page.text


def test_an_unexpected_failure_is_logged_and_not_shown(
    back_office: BackOffice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setattr("app.services.items.create", broken)
    response = back_office.submit("/item/create", {"title": "Anything"})
    assert response.status_code == 400
    assert alerts(response) == ["The change could not be saved; the error was logged."]
    assert "SELECT secret" not in response.text
    assert "SELECT secret" in caplog.text
