"""CSV on the Users and Items screens: the export is the list as the screen shows it,
the import page takes a file as the API does (with the sign-in's CSRF token) and
lists every bad row."""

import csv
import io

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, select

from app.models import Item, User
from tests.admin.pages import ADMIN, CROSS_SITE, SAME_ORIGIN, BackOffice, alerts, notices
from tests.helpers import Account, count_rows
from tests.test_items import create_item

GOOD_USERS = "email,password,name\r\nnew-1@example.com,a good password,One\r\n"


def emails_in(response: Response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return [row["email"] for row in csv.DictReader(io.StringIO(response.text, newline=""))]


def send_file(
    back_office: BackOffice,
    identity: str,
    content: str,
    *,
    token: str | None = None,
    content_type: str = "text/csv",
    **headers: str,
) -> Response:
    """The import page's form, as the browser posts it."""
    data = {} if token == "" else {"csrf_token": token or back_office.csrf_token()}
    return back_office.client.post(
        f"{ADMIN}/{identity}/import-csv",
        data=data,
        files={"file": ("upload.csv", content.encode(), content_type)},
        headers={**SAME_ORIGIN, **headers},
        follow_redirects=False,
    )


def test_the_lists_link_their_export_and_import(back_office: BackOffice) -> None:
    for identity in ("user", "item"):
        page = back_office.get(f"/{identity}/list?search=x")
        assert f'href="http://testserver{ADMIN}/{identity}/export.csv?search=x"' in page.text
        assert f'href="http://testserver{ADMIN}/{identity}/import-csv"' in page.text
    assert "export.csv" not in back_office.get("/session/list").text


def test_the_users_export_is_the_list_as_the_screen_shows_it(
    back_office: BackOffice, admin: Account, user: Account, inactive_user: Account
) -> None:
    everyone = emails_in(back_office.get("/user/export.csv?sortBy=email&sort=asc"))
    searched = emails_in(back_office.get("/user/export.csv?search=USER@"))
    inactive = emails_in(back_office.get("/user/export.csv?is_active=false"))
    admins = emails_in(back_office.get("/user/export.csv?role=ADMIN&sortBy=email&sort=desc"))
    assert everyone == sorted([admin.email, user.email, inactive_user.email])
    assert searched == [user.email]
    assert inactive == [inactive_user.email]
    assert admins == [admin.email]
    unsortable = back_office.get("/user/export.csv?sortBy=role&sort=asc")
    assert len(emails_in(unsortable)) == 3  # the API's default order instead


def test_the_items_export_searches_by_owner_too(
    back_office: BackOffice, user: Account, other_user: Account
) -> None:
    create_item(back_office.client, user, "Mine")
    create_item(back_office.client, other_user, "Theirs")
    response = back_office.get("/item/export.csv?search=other@")
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert [(row["title"], row["ownerId"]) for row in rows] == [("Theirs", str(other_user.id))]
    assert "password" not in response.text


def test_the_export_needs_a_sign_in(browser: BackOffice) -> None:
    response = browser.get("/user/export.csv")
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"{ADMIN}/login")


def test_import_users_from_the_page(back_office: BackOffice, db: Session) -> None:
    page = back_office.get("/user/import-csv")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert 'name="csrf_token"' in page.text

    response = send_file(back_office, "user", GOOD_USERS)

    assert response.status_code == 303, response.text
    assert notices(back_office.next_page(response)) == ["1 user imported."]
    assert count_rows(db, User) == 2


def test_the_import_page_lists_every_bad_row_and_imports_nothing(
    back_office: BackOffice, user: Account, db: Session
) -> None:
    content = (
        "email,password\r\n"
        "fine@example.com,a good password\r\n"
        f"{user.email},a good password\r\n"
        "bad,short\r\n"
    )
    response = send_file(back_office, "user", content)
    assert response.status_code == 400
    assert "Some rows are invalid: nothing was imported." in response.text
    table = response.text.split('id="csv-problems"')[1]
    for expected in ("<td>3</td><td>email</td><td>Email already registered</td>", "<td>4</td>"):
        assert expected in table
    assert "must be at least 8 characters" in table
    assert count_rows(db, User) == 2


def test_the_import_page_refuses_what_the_api_refuses(back_office: BackOffice, db: Session) -> None:
    not_csv = send_file(back_office, "item", "title\r\nx\r\n", content_type="image/png")
    assert not_csv.status_code == 400
    assert alerts(not_csv) == ["Upload a CSV file (text/csv)"]
    unreadable = back_office.client.post(
        f"{ADMIN}/item/import-csv",
        data={"csrf_token": back_office.csrf_token()},
        files={"file": ("upload.csv", b"title\r\nCaf\xe9\r\n", "text/csv")},
        headers=SAME_ORIGIN,
    )
    assert alerts(unreadable) == ["The file is not CSV text in UTF-8 with a header row"]
    assert count_rows(db, Item) == 0


def test_items_imported_from_the_page_are_the_admins(
    back_office: BackOffice, admin: Account, db: Session
) -> None:
    response = send_file(back_office, "item", "title,description\r\nOne,\r\nTwo,2\r\n")
    assert response.status_code == 303, response.text
    assert notices(back_office.next_page(response)) == ["2 items imported."]
    owners = {item.owner_id for item in db.exec(select(Item)).all()}
    assert owners == {admin.id}


def test_the_import_form_needs_the_csrf_token_and_the_own_pages(
    back_office: BackOffice, client: TestClient, db: Session
) -> None:
    assert send_file(back_office, "user", GOOD_USERS, token="").status_code == 403
    assert send_file(back_office, "user", GOOD_USERS, token="0" * 64).status_code == 403
    assert send_file(back_office, "user", GOOD_USERS, **CROSS_SITE).status_code == 403
    assert count_rows(db, User) == 1


def test_the_import_form_without_a_file_says_so(back_office: BackOffice) -> None:
    response = back_office.client.post(
        f"{ADMIN}/user/import-csv",
        data={"csrf_token": back_office.csrf_token()},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 400
    assert alerts(response) == ["Choose a CSV file to import."]
