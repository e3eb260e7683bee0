"""Files of items: upload, list, read, download and delete; the items' owner rules;
the size limit and the type judged by the bytes; hostile names; what downloads carry."""

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from app.core.errors import ErrorCode
from tests.attachment_support import (
    HTML,
    LIMIT,
    PNG,
    Files,
    files_url,
    form_headers,
    local_files,
    new_item,
    random_id,
    raw_form,
    streamed_form,
    upload,
    uploaded,
)
from tests.helpers import API, Account, error_body

PUBLIC_FIELDS = {"id", "itemId", "filename", "contentType", "size", "createdAt"}


@pytest.fixture
def local(make_client: Callable[..., TestClient], tmp_path: Path) -> Files:
    """An app whose files go to a directory."""
    return local_files(make_client, tmp_path / "files")


def test_upload_list_read_download_delete(files: Files, user: Account) -> None:
    client, item_id = files.client, new_item(files.client, user)

    body = uploaded(client, user, item_id, filename="photo.png")

    assert set(body) == PUBLIC_FIELDS
    assert (body["itemId"], body["filename"], body["size"]) == (item_id, "photo.png", len(PNG))
    assert body["contentType"] == "image/png"
    assert len(files.stored()) == 1
    listed = client.get(files_url(item_id), headers=user.headers)
    assert listed.status_code == 200
    assert listed.json() == [body]
    assert client.get(files_url(item_id, body["id"]), headers=user.headers).json() == body
    download = client.get(files_url(item_id, body["id"], content=True), headers=user.headers)
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-length"] == str(len(PNG))
    deleted = client.delete(files_url(item_id, body["id"]), headers=user.headers)
    assert deleted.status_code == 204
    assert files.stored() == []
    assert client.get(files_url(item_id), headers=user.headers).json() == []
    gone = client.get(files_url(item_id, body["id"], content=True), headers=user.headers)
    assert gone.status_code == 404
    assert gone.json() == error_body(ErrorCode.ATTACHMENT_NOT_FOUND)


def test_downloads_are_attachments_that_never_run(local: Files, user: Account) -> None:
    body = uploaded(local.client, user, new_item(local.client, user))

    download = local.client.get(
        files_url(body["itemId"], body["id"], content=True), headers=user.headers
    )

    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]


def test_another_users_item_and_files_are_not_found(
    local: Files, user: Account, other_user: Account, admin: Account
) -> None:
    client = local.client
    item_id = new_item(client, user)
    file_id = uploaded(client, user, item_id)["id"]
    not_found = error_body(ErrorCode.ITEM_NOT_FOUND)

    answers = [
        upload(client, other_user, item_id),
        client.get(files_url(item_id), headers=other_user.headers),
        client.get(files_url(item_id, file_id), headers=other_user.headers),
        client.get(files_url(item_id, file_id, content=True), headers=other_user.headers),
        client.delete(files_url(item_id, file_id), headers=other_user.headers),
    ]

    assert [(answer.status_code, answer.json()) for answer in answers] == [(404, not_found)] * 5
    assert len(local.stored()) == 1
    # a file looked for under another item, or an unknown one, is not found either
    own_item = new_item(client, other_user)
    elsewhere = client.get(files_url(own_item, file_id), headers=other_user.headers)
    assert elsewhere.json() == error_body(ErrorCode.ATTACHMENT_NOT_FOUND)
    unknown = client.get(files_url(item_id, random_id()), headers=user.headers)
    assert unknown.status_code == 404
    # an admin acts on every item's files
    assert uploaded(client, admin, item_id)["itemId"] == item_id
    assert client.delete(files_url(item_id, file_id), headers=admin.headers).status_code == 204
    assert len(local.stored()) == 1


def test_signed_out_and_malformed_requests(local: Files, user: Account) -> None:
    client, item_id = local.client, new_item(local.client, user)

    assert client.get(files_url(item_id)).status_code == 401
    no_file = client.post(files_url(item_id), data={"other": "x"}, headers=user.headers)
    assert no_file.status_code == 422
    as_json = client.post(files_url(item_id), json={"file": "x"}, headers=user.headers)
    assert as_json.status_code == 422
    assert client.get(files_url("not-a-uuid"), headers=user.headers).status_code == 422
    assert client.get(files_url(item_id, "not-a-uuid"), headers=user.headers).status_code == 422
    assert local.stored() == []


def test_a_file_over_the_limit_is_refused_and_nothing_stored(files: Files, user: Account) -> None:
    item_id = new_item(files.client, user)

    at_limit = upload(files.client, user, item_id, data=PNG + bytes(LIMIT - len(PNG)))
    over = upload(files.client, user, item_id, data=PNG + bytes(LIMIT - len(PNG) + 1))

    assert at_limit.status_code == 201, at_limit.text
    assert over.status_code == 413
    assert over.json() == error_body(ErrorCode.ATTACHMENT_TOO_LARGE)
    assert len(files.stored()) == 1


@pytest.mark.parametrize("declared", [False, True], ids=["streamed", "content-length"])
def test_an_oversized_streamed_upload_stops_early(
    local: Files, user: Account, declared: bool
) -> None:
    item_id = new_item(local.client, user)
    body = b"".join(streamed_form(4 * LIMIT))

    response = local.client.post(
        files_url(item_id),
        content=body if declared else streamed_form(4 * LIMIT),
        headers=form_headers(user),
    )

    assert response.status_code == 413
    assert response.json()["code"] in {ErrorCode.BODY_TOO_LARGE, ErrorCode.ATTACHMENT_TOO_LARGE}
    assert local.stored() == []  # no object, no partial file
    assert local.client.get(files_url(item_id), headers=user.headers).json() == []


def test_the_upload_limit_leaves_other_bodies_at_theirs(
    make_client: Callable[..., TestClient], tmp_path: Path, user: Account
) -> None:
    big = 3 * 1024 * 1024  # past MAX_REQUEST_BODY_BYTES (1 MiB)
    client = make_client(attachment_dir=tmp_path, attachment_max_bytes=big)
    item_id = new_item(client, user)

    accepted = upload(client, user, item_id, data=PNG + bytes(2 * 1024 * 1024))
    json_body = client.post(
        f"{API}/items", content=b'{"title": "' + b"x" * big + b'"}', headers=user.headers
    )

    assert accepted.status_code == 201, accepted.text
    assert json_body.status_code == 413
    assert json_body.json() == error_body(ErrorCode.BODY_TOO_LARGE)


@pytest.mark.parametrize(
    ("data", "sent_as"),
    [
        (HTML, "image/png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/png"),
        (b'<?xml version="1.0"?><x/>', "text/plain"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" * 8, "application/pdf"),
    ],
    ids=["html", "svg", "xml", "executable"],
)
def test_the_type_is_judged_by_the_bytes(
    local: Files, user: Account, data: bytes, sent_as: str
) -> None:
    response = upload(
        local.client, user, new_item(local.client, user), data=data, content_type=sent_as
    )

    assert response.status_code == 415
    assert response.json() == error_body(ErrorCode.ATTACHMENT_TYPE_NOT_ALLOWED)
    assert local.stored() == []


def test_allowed_active_content_is_stored_as_what_it_is_and_never_inline(
    make_client: Callable[..., TestClient], tmp_path: Path, user: Account
) -> None:
    files = local_files(make_client, tmp_path, attachment_content_types="text/html,image/png")
    body = uploaded(files.client, user, new_item(files.client, user), data=HTML)

    download = files.client.get(
        files_url(body["itemId"], body["id"], content=True), headers=user.headers
    )

    assert body["contentType"] == "text/html"  # not the image/png the client claimed
    assert download.content == HTML
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["content-security-policy"].startswith("sandbox")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("report\u202egnp.exe", "reportgnp.exe"),
        ("..", "file"),
        ("Résumé 履歴書 😀.png", "Résumé 履歴書 😀.png"),
        ("x" * 1000 + ".png", "x" * 251 + ".png"),
    ],
    ids=["traversal", "windows-traversal", "bidi-override", "dots", "unicode", "long"],
)
def test_hostile_names_are_cleaned_and_never_reach_the_storage(
    local: Files, user: Account, sent: str, kept: str
) -> None:
    body = uploaded(local.client, user, new_item(local.client, user), filename=sent)

    download = local.client.get(
        files_url(body["itemId"], body["id"], content=True), headers=user.headers
    )

    assert body["filename"] == kept
    [stored] = local.stored()
    assert len(stored) == 32  # a generated key, nothing of the name
    disposition = download.headers["content-disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == kept
    assert disposition.isascii()
    assert not (Path.cwd().parent / "etc").exists()


@pytest.mark.parametrize(
    ("sent", "kept"),
    [(b"a\x00b.png", "ab.png"), (b"../\x00/../x", "x"), (b"\xff\xfe.png", "\u00ff\u00fe.png")],
    ids=["nul", "nul-traversal", "not-utf8"],
)
def test_raw_bytes_in_the_name_are_cleaned(
    local: Files, user: Account, sent: bytes, kept: str
) -> None:
    item_id = new_item(local.client, user)

    response = local.client.post(
        files_url(item_id), content=raw_form(sent), headers=form_headers(user)
    )

    assert response.status_code == 201, response.text
    assert response.json()["filename"] == kept
