"""An item's back-office page: its files listed with download links, uploaded and
deleted there (with the CSRF token, under the API's limits and types)."""

import re
import uuid

from fastapi.testclient import TestClient
from httpx2 import Response

from tests.admin.pages import ADMIN, SAME_ORIGIN, BackOffice, notices
from tests.attachment_support import HTML, PNG, new_item, uploaded
from tests.helpers import Account

LINK = re.compile(r'href="http://testserver(/admin/item/files/[^"]+)">([^<]*)</a>')


def post_file(
    back_office: BackOffice, item_id: str, data: bytes, name: str, *, token: str | None = None
) -> Response:
    """The page's upload form, as the browser posts it."""
    return back_office.client.post(
        f"{ADMIN}/item/files/{item_id}",
        data={"csrf_token": back_office.csrf_token() if token is None else token},
        files={"file": (name, data, "image/png")},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )


def test_upload_list_download_and_delete_on_the_items_page(
    back_office: BackOffice, client: TestClient, user: Account
) -> None:
    item_id = new_item(client, user)
    uploaded(client, user, item_id, filename="from-the-api.png")

    response = post_file(back_office, item_id, PNG, "from-the-office.png")

    assert response.status_code == 303
    page = back_office.next_page(response)
    assert 'File "from-the-office.png" uploaded.' in notices(page)
    links = {name: path for path, name in LINK.findall(page.text)}
    assert set(links) == {"from-the-api.png", "from-the-office.png"}
    download = back_office.get(links["from-the-office.png"].removeprefix(ADMIN))
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment;")
    file_id = links["from-the-api.png"].rsplit("/", 1)[1]
    deleted = back_office.submit(f"/item/files/{item_id}/{file_id}/delete", {})
    assert deleted.status_code == 303
    api_list = client.get(f"/api/v1/items/{item_id}/files", headers=user.headers).json()
    assert [entry["filename"] for entry in api_list] == ["from-the-office.png"]


def test_a_refused_upload_says_why_and_stores_nothing(
    back_office: BackOffice, client: TestClient, user: Account
) -> None:
    item_id = new_item(client, user)

    response = post_file(back_office, item_id, HTML, "page.png")

    assert response.status_code == 303
    page = back_office.next_page(response)
    assert any("not accepted" in notice for notice in notices(page))
    assert client.get(f"/api/v1/items/{item_id}/files", headers=user.headers).json() == []


def test_uploads_need_the_csrf_token(
    back_office: BackOffice, client: TestClient, user: Account
) -> None:
    item_id = new_item(client, user)

    response = post_file(back_office, item_id, PNG, "x.png", token="forged")

    assert response.status_code == 403
    assert client.get(f"/api/v1/items/{item_id}/files", headers=user.headers).json() == []


def test_unknown_items_and_files_are_not_found(back_office: BackOffice) -> None:
    unknown = uuid.uuid4()

    assert back_office.get(f"/item/files/{unknown}/{uuid.uuid4()}").status_code == 404
    assert back_office.get(f"/item/files/not-a-uuid/{unknown}").status_code == 404
    refused = post_file(back_office, str(unknown), PNG, "x.png")
    assert refused.status_code == 303  # back to the item's page, which is not found
    assert back_office.next_page(refused).status_code == 404
