"""CSV export and import of users and items.

Exports: the list's filters and sort, public columns only, formulas neutralised,
others' items invisible, read in batches up to a limit. Imports: every row checked by
the create payload and its rules, every bad row reported, all rows or none."""

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, col, select

from app.core.csv_files import cell
from app.core.state import app_state
from app.models import AuditEvent, Item, Role, User, UserCreate
from app.services import accounts, exports
from tests.helpers import API, USERS, Account, count_rows, fresh, ids_of, login
from tests.test_items import ITEMS, create_item

USER_COLUMNS = [
    "email",
    "name",
    "id",
    "role",
    "isActive",
    "emailVerified",
    "createdAt",
    "updatedAt",
]
ITEM_COLUMNS = ["title", "description", "id", "ownerId", "createdAt", "updatedAt"]
FILENAME = re.compile(r'attachment; filename="(users|items)-\d{8}\.csv"')


def rows_of(response: Response) -> list[dict[str, str]]:
    """The rows of a CSV answer, by column (asserting it is one)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert FILENAME.fullmatch(response.headers["content-disposition"])
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


def header_of(response: Response) -> list[str]:
    return next(csv.reader(io.StringIO(response.text, newline="")))


def export(client: TestClient, path: str, account: Account, **params: Any) -> Response:
    return client.get(f"{path}/export.csv", params=params, headers=account.headers)


def test_users_export_has_the_public_columns_and_no_secret(
    client: TestClient, admin: Account, user: Account
) -> None:
    response = export(client, USERS, admin, sort="email")

    assert header_of(response) == USER_COLUMNS
    rows = rows_of(response)
    assert [row["email"] for row in rows] == [admin.email, user.email]
    assert rows[1]["role"] == "USER"
    assert rows[1]["isActive"] == "true"
    assert rows[1]["id"] == str(user.id)
    assert response.headers["x-total-count"] == "2"
    assert "password" not in response.text.lower()
    assert "$2b$" not in response.text  # no bcrypt hash, under any column name


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "email"},
        {"sort": "-name"},
        {"sort": "name"},
        {"role": "USER", "sort": "-createdAt"},
        {"isActive": "false"},
        {"q": "example.COM", "sort": "-email"},
    ],
)
def test_users_export_selects_and_orders_as_the_list_does(
    client: TestClient,
    admin: Account,
    make_account: Callable[..., Account],
    monkeypatch: pytest.MonkeyPatch,
    params: dict[str, str],
) -> None:
    for number in range(5):  # names missing and repeated: ties and NULLs across batches
        name = None if number % 2 else "Same"
        make_account(f"u{number}@example.com", name=name, is_active=number != 3)
    make_account("boss@example.org", role=Role.ADMIN)
    monkeypatch.setattr(exports, "BATCH_ROWS", 2)

    listed = client.get(USERS, params={**params, "limit": 100}, headers=admin.headers)
    exported = rows_of(export(client, USERS, admin, **params))

    assert [row["id"] for row in exported] == ids_of(listed)
    assert len(exported) >= 1


def test_users_export_is_for_admins(client: TestClient, user: Account) -> None:
    assert export(client, USERS, user).status_code == 403
    assert client.get(f"{USERS}/export.csv").status_code == 401


def test_items_export_holds_only_the_callers_items(
    client: TestClient, user: Account, other_user: Account, admin: Account
) -> None:
    mine = create_item(client, user, "Mine", description="with, a comma\nand a line")
    theirs = create_item(client, other_user, "Theirs")

    own = rows_of(export(client, ITEMS, user))
    everyone = rows_of(export(client, ITEMS, admin, sort="title"))
    narrowed = rows_of(export(client, ITEMS, admin, ownerId=str(other_user.id)))
    others_for_a_user = rows_of(export(client, ITEMS, user, ownerId=str(other_user.id)))

    assert [row["id"] for row in own] == [mine["id"]]
    assert own[0]["description"] == "with, a comma\nand a line"
    assert own[0]["ownerId"] == str(user.id)
    assert [row["title"] for row in everyone] == ["Mine", "Theirs"]
    assert [row["id"] for row in narrowed] == [theirs["id"]]
    assert others_for_a_user == []


def test_items_export_header_comes_even_without_rows(client: TestClient, user: Account) -> None:
    response = export(client, ITEMS, user)
    assert header_of(response) == ITEM_COLUMNS
    assert rows_of(response) == []
    assert response.headers["x-total-count"] == "0"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+41 79 000 00 00", "'+41 79 000 00 00"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a=1", "a=1"),
        ("", ""),
        (None, ""),
        (True, "true"),
    ],
)
def test_a_cell_that_would_start_a_formula_gets_a_quote(value: object, written: str) -> None:
    assert cell(value) == written


def test_exported_formulas_stay_text(client: TestClient, user: Account) -> None:
    create_item(
        client, user, '=HYPERLINK("http://evil.example","x")', description="\t=cmd|'/c calc'!A0"
    )
    create_item(client, user, "@SUM(1)", description="-1+2")

    rows = rows_of(export(client, ITEMS, user, sort="title"))

    assert [(row["title"], row["description"]) for row in rows] == [
        ('\'=HYPERLINK("http://evil.example","x")', "'\t=cmd|'/c calc'!A0"),
        ("'@SUM(1)", "'-1+2"),
    ]


def test_the_export_stops_at_its_row_limit(
    make_client: Callable[..., TestClient], user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(csv_export_max_rows=5)
    monkeypatch.setattr(exports, "BATCH_ROWS", 2)  # three reads: 2, 2, then 1
    for number in range(7):
        create_item(client, user, f"Item {number}")

    response = export(client, ITEMS, user, sort="title")

    assert [row["title"] for row in rows_of(response)] == [f"Item {n}" for n in range(5)]
    assert response.headers["x-total-count"] == "7"


def test_the_export_is_read_in_batches_each_in_a_read_of_its_own(
    client: TestClient, user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(5):
        create_item(client, user, "Same title", description=str(number))
    monkeypatch.setattr(exports, "BATCH_ROWS", 2)
    reads: list[int] = []
    batch = exports._batch

    def counted(*args: Any, **kwargs: Any) -> tuple[str, int, Any]:
        found = batch(*args, **kwargs)
        reads.append(found[1])
        return found

    monkeypatch.setattr(exports, "_batch", counted)

    rows = rows_of(export(client, ITEMS, user, sort="-title"))

    assert sorted(row["description"] for row in rows) == ["0", "1", "2", "3", "4"]
    assert reads == [2, 2, 1]


def test_export_parameters_are_checked_like_the_lists(client: TestClient, admin: Account) -> None:
    for params in ({"sort": "password"}, {"role": "OWNER"}, {"isActive": "maybe"}):
        response = export(client, USERS, admin, **params)
        assert response.status_code == 422, params
    assert export(client, USERS, admin, offset="5", limit="1").status_code == 200  # ignored


def test_the_openapi_document_declares_the_csv_answers(client: TestClient) -> None:
    document = client.get(f"{API}/openapi.json").json()
    for path in (f"{API}/users/export.csv", f"{API}/items/export.csv"):
        operation = document["paths"][path]["get"]
        ok = operation["responses"]["200"]
        assert ok["content"] == {"text/csv": {"schema": {"type": "string"}}}
        assert set(ok["headers"]) == {"Content-Disposition", "X-Total-Count"}
        for status in ("401", "422"):  # errors stay JSON
            assert set(operation["responses"][status]["content"]) == {"application/json"}
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert "offset" not in names
        assert "limit" not in names
        assert {"q", "sort"} <= names


# Imports


def upload(
    client: TestClient,
    path: str,
    account: Account,
    content: bytes | str,
    content_type: str = "text/csv",
) -> Response:
    data = content.encode() if isinstance(content, str) else content
    files = {"file": ("upload.csv", data, content_type)}
    return client.post(f"{path}/import", files=files, headers=account.headers)


def problems(response: Response) -> list[tuple[int, str | None, str]]:
    """The `(row, field, message)` of a refused import (asserting it is one)."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "CSV_INVALID_ROWS"
    assert body["detail"] == "Some rows are invalid: nothing was imported"
    return [(error["row"], error["field"], error["message"]) for error in body["errors"]]


def find(db: Session, email: str) -> User | None:
    found = accounts.find_by_email(fresh(db), email)
    db.commit()
    return found


def emails(db: Session) -> set[str]:
    found = set(fresh(db).exec(select(User.email)).all())
    db.commit()
    return found


PEOPLE = (
    "\ufeffemail,password,name,role,isActive\r\n"
    "Ada@Example.com,first password,Ada,ADMIN,true\r\n"
    "bob@example.com,second password,,,false\r\n"
    "\r\n"
    "carol@example.com,third password,Carol,,\r\n"
)


def test_users_import_creates_every_row_as_post_users_does(
    client: TestClient, admin: Account, db: Session
) -> None:
    response = upload(client, USERS, admin, PEOPLE)

    assert response.status_code == 201, response.text
    assert response.json() == {"created": 3}
    ada, bob = find(db, "ada@example.com"), find(db, "bob@example.com")
    assert ada is not None
    assert (ada.name, ada.role, ada.is_active, ada.email_verified) == (
        "Ada",
        Role.ADMIN,
        True,
        True,
    )
    assert bob is not None
    assert (bob.name, bob.role, bob.is_active) == (None, Role.USER, False)
    assert login(client, "carol@example.com", "third password")["accessToken"]
    imported = ["ada@example.com", "bob@example.com", "carol@example.com"]
    audited = count_rows(
        db,
        AuditEvent,
        col(AuditEvent.action) == "user.created",
        col(AuditEvent.target_label).in_(imported),
        col(AuditEvent.actor_id) == admin.id,
    )
    assert audited == 3


def test_one_bad_row_creates_nothing_and_every_bad_row_is_listed(
    client: TestClient, admin: Account, db: Session
) -> None:
    content = (
        "email,password,role\r\n"
        "good@example.com,a good password,USER\r\n"
        "not-an-email,a good password,USER\r\n"
        "short@example.com,short,OWNER\r\n"
        "also-good@example.com,a good password,USER,extra\r\n"
    )

    found = problems(upload(client, USERS, admin, content))

    assert [(row, field) for row, field, _ in found] == [
        (3, "email"),
        (4, "password"),
        (4, "role"),
        (5, None),
    ]
    assert found[1][2] == "must be at least 8 characters"
    assert emails(db) == {admin.email}


def test_emails_are_unique_within_the_file_and_against_the_accounts(
    client: TestClient, admin: Account, user: Account, db: Session
) -> None:
    content = (
        "email,password\r\n"
        "new@example.com,a good password\r\n"
        "NEW@example.com,a good password\r\n"
        f"{user.email.upper()},a good password\r\n"
    )

    found = problems(upload(client, USERS, admin, content))

    assert found == [
        (3, "email", "Email also in row 2"),
        (4, "email", "Email already registered"),
    ]
    assert emails(db) == {admin.email, user.email}


def test_header_problems_are_listed_as_row_1(client: TestClient, admin: Account) -> None:
    found = problems(upload(client, USERS, admin, "name,emial\r\nAda,ada@example.com\r\n"))

    assert found == [
        (1, "emial", "Unknown column"),
        (1, "email", "Missing column"),
        (1, "password", "Missing column"),
    ]


def test_users_import_is_for_admins(client: TestClient, user: Account, db: Session) -> None:
    response = upload(client, USERS, user, "email,password\r\nx@example.com,a good password\r\n")
    assert response.status_code == 403
    assert emails(db) == {user.email}


@pytest.mark.parametrize("content_type", ["image/png", "application/json", "application/pdf"])
def test_a_file_that_is_not_csv_is_refused(
    client: TestClient, user: Account, content_type: str
) -> None:
    response = upload(client, ITEMS, user, "title\r\nx\r\n", content_type)
    assert response.status_code == 415
    assert response.json()["code"] == "CSV_CONTENT_TYPE"


def test_a_body_without_the_file_field_is_a_validation_error(
    client: TestClient, user: Account
) -> None:
    response = client.post(f"{ITEMS}/import", json={"title": "x"}, headers=user.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "content",
    [b"title\r\nCaf\xe9\r\n", b"", b"title\r\nnul\x00\r\n", b'title\r\n"open quote\r\n'],
    ids=["latin-1", "empty", "nul", "unclosed-quote"],
)
def test_a_file_that_is_not_utf8_csv_is_refused(
    client: TestClient, user: Account, content: bytes, db: Session
) -> None:
    response = upload(client, ITEMS, user, content)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "CSV_UNREADABLE"
    assert count_rows(db, Item) == 0


def test_too_many_rows_are_refused(
    make_client: Callable[..., TestClient], user: Account, db: Session
) -> None:
    client = make_client(csv_import_max_rows=2)
    assert upload(client, ITEMS, user, "title\r\na\r\nb\r\n").status_code == 201
    response = upload(client, ITEMS, user, "title\r\na\r\nb\r\nc\r\n")
    assert response.status_code == 413
    assert response.json()["code"] == "CSV_TOO_MANY_ROWS"
    assert count_rows(db, Item) == 2


def test_too_large_a_file_is_refused(
    make_client: Callable[..., TestClient], client: TestClient, user: Account, db: Session
) -> None:
    small_limit = make_client(csv_import_max_bytes=100)
    content = "title\r\n" + "x" * 93 + "\r\n"  # 102 bytes
    assert upload(small_limit, ITEMS, user, content[:100]).status_code == 201  # 100: fine
    response = upload(small_limit, ITEMS, user, content)
    assert response.status_code == 413
    assert response.json()["code"] == "BODY_TOO_LARGE"
    past_the_body_limit = "title\r\n" + "x\r\n" * (1024 * 1024 // 3)
    assert upload(client, ITEMS, user, past_the_body_limit).status_code == 413
    assert count_rows(db, Item) == 1


def test_items_import_creates_items_owned_by_the_caller(
    client: TestClient, user: Account, other_user: Account
) -> None:
    content = "title,description\r\nFirst,one\r\n=2+3,\r\n"

    response = upload(client, ITEMS, user, content)

    assert response.status_code == 201, response.text
    assert response.json() == {"created": 2}
    own = rows_of(export(client, ITEMS, user, sort="title"))
    assert [(row["title"], row["description"]) for row in own] == [("'=2+3", ""), ("First", "one")]
    assert rows_of(export(client, ITEMS, other_user)) == []


def test_an_exported_items_file_comes_back_in(
    client: TestClient, user: Account, other_user: Account
) -> None:
    create_item(client, user, "Kept", description="text")
    exported = export(client, ITEMS, user).text

    response = upload(client, ITEMS, other_user, exported)

    assert response.status_code == 201, response.text
    copied = rows_of(export(client, ITEMS, other_user))
    assert [(row["title"], row["ownerId"]) for row in copied] == [("Kept", str(other_user.id))]


def test_a_bad_items_row_creates_nothing(client: TestClient, user: Account, db: Session) -> None:
    content = "title,description\r\nGood,\r\n,no title\r\n" + "y" * 300 + ",\r\n"
    found = problems(upload(client, ITEMS, user, content))
    assert [(row, field) for row, field, _ in found] == [(3, "title"), (4, "title")]
    assert count_rows(db, Item) == 0


def test_the_openapi_document_declares_the_imports(client: TestClient) -> None:
    document = client.get(f"{API}/openapi.json").json()
    for path in (f"{API}/users/import", f"{API}/items/import"):
        operation = document["paths"][path]["post"]
        assert "multipart/form-data" in operation["requestBody"]["content"]
        assert operation["responses"]["201"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/CsvImported"
        }
        refused = operation["responses"]["422"]["content"]["application/json"]["schema"]
        assert refused == {
            "anyOf": [
                {"$ref": "#/components/schemas/RowErrorsBody"},
                {"$ref": "#/components/schemas/HTTPValidationError"},
            ]
        }
        assert {"400", "413", "415"} <= set(operation["responses"])


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"title\r\n\xed\xa0\x80\r\n", 400),  # a lone surrogate, encoded
        (b"title\r\n" + b"x" * 200_000 + b"\r\n", 400),  # past the csv module's field limit
        (b"title\r\n" + b"y" * 100_000 + b"\r\n", 422),  # a title too long
        (b",,,\r\nx,y,z,w\r\n", 400),  # a header of nothing
        (b"title,title\r\nx,y\r\n", 422),
        (b"\xef\xbb\xbf", 400),  # a byte order mark alone
        (b"title\r\r\r\nx\r\n", 201),
        (b"title\r\n" + b"a,b\r\n" * 1000, 422),
    ],
    ids=[
        "surrogate",
        "huge-cell",
        "long-title",
        "empty-header",
        "twice",
        "bom-only",
        "bare-returns",
        "extra-cells",
    ],
)
def test_odd_files_get_a_4xx_never_a_500(
    client: TestClient, user: Account, content: bytes, status: int
) -> None:
    assert upload(client, ITEMS, user, content).status_code == status


def test_an_email_taken_while_passwords_were_hashed_creates_nothing(
    client: TestClient, admin: Account, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = app_state(client.app).hasher
    hash_password = hasher.hash

    def hash_while_someone_registers(password: str) -> str:
        if find(db, "late@example.com") is None:  # the first hash: another request's account
            late = UserCreate(email="late@example.com", password="a good password")
            accounts.create_user(db, user_in=late, password_hash="x")
            db.commit()
        return hash_password(password)

    monkeypatch.setattr(hasher, "hash", hash_while_someone_registers)
    content = (
        "email,password\r\nearly@example.com,a good password\r\nlate@example.com,a password\r\n"
    )

    found = problems(upload(client, USERS, admin, content))

    assert found == [(3, "email", "Email already registered")]
    assert emails(db) == {admin.email, "late@example.com"}


@pytest.mark.parametrize("path", [f"{USERS}/import", f"{ITEMS}/import", f"{ITEMS}/export.csv"])
@pytest.mark.parametrize("method", ["PATCH", "DELETE", "PUT"])
def test_the_csv_paths_are_no_row_ids(
    client: TestClient, admin: Account, path: str, method: str
) -> None:
    response = client.request(method, path, headers=admin.headers)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] in ("GET", "POST")
    assert client.get(f"{ITEMS}/not-a-uuid", headers=admin.headers).status_code == 422
