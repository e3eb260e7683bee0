"""The back office in a browser's hands: security headers and a policy its pages
satisfy, nothing from another site, no cross-site request, no password hash on any
page, and no 500 for any id or query."""

import re
import uuid
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.core.errors import ErrorCode
from app.core.state import app_state
from app.models import User
from tests.admin.pages import ADMIN, CROSS_SITE, SAME_ORIGIN, BackOffice, alerts, ids_on
from tests.helpers import Account, session_id, stored
from tests.test_items import create_item

SCREENS = ("user", "item", "session", "audit-event")


class Links(HTMLParser):
    """Every URL a page loads or links to, and whatever inline code or style it has."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        self.inline += [name for name, _ in attrs if name == "style" or name.startswith("on")]
        if tag == "script" and not values.get("src"):
            self.inline.append("script")
        if tag == "style":
            self.inline.append("style")


def pages(back_office: BackOffice, user: Account) -> list[str]:
    """A path of every kind of page, with a row of each table."""
    item = create_item(back_office.client, user)
    rows = {
        "user": str(user.id),
        "item": item["id"],
        "session": str(session_id(user.access_token)),
        "audit-event": ids_on(back_office.get("/audit-event/list"), "audit-event")[0],
    }
    paths = ["/", "/login", f"/user/details/{uuid.uuid4()}"]
    for screen in SCREENS:
        paths += [f"/{screen}/list", f"/{screen}/details/{rows[screen]}"]
    paths += ["/user/create", "/item/create", f"/user/edit/{user.id}", f"/item/edit/{item['id']}"]
    return paths


def test_every_page_sets_the_security_headers(back_office: BackOffice, user: Account) -> None:
    for path in [*pages(back_office, user), "/statics/css/main.css", "/assets/back-office.js"]:
        response = back_office.get(path)
        assert response.status_code in (200, 404), path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe" not in policy


def test_pages_load_nothing_from_elsewhere_and_nothing_inline(
    back_office: BackOffice, user: Account
) -> None:
    loaded: set[str] = set()
    for path in pages(back_office, user):
        parser = Links()
        parser.feed(back_office.get(path).text)
        assert parser.inline == [], path
        for url in parser.urls:
            assert url.startswith(("/", "#", "http://testserver/")), (path, url)
            if "/statics/" in url or "/assets/" in url:
                loaded.add(url.removeprefix("http://testserver"))
    assert len(loaded) >= 8
    for url in loaded:
        response = back_office.client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(("text/css", "text/javascript")), url


def test_no_page_shows_a_password_hash(
    back_office: BackOffice, admin: Account, user: Account, db: Session
) -> None:
    hashes = []
    for account in (admin, user):
        row = stored(db, User, account.id)
        assert row is not None
        hashes.append(row.password_hash)
    for path in pages(back_office, user):
        text = back_office.get(path).text
        for secret in [*hashes, "$2b$", "password_hash", "refresh_token_hash"]:
            assert secret not in text, (path, secret)


# Cross-site requests

FORM = {"title": "Forged"}


def test_a_form_without_the_token_is_refused(back_office: BackOffice) -> None:
    for token in ["", "0" * 64, "x"]:
        response = back_office.submit("/item/create", FORM, token=token)
        assert response.status_code == 403
        assert "The form has expired" in response.text
    assert "Forged" not in back_office.get("/item/list").text


def test_a_token_of_another_sign_in_is_refused(
    back_office: BackOffice, admin: Account, client: TestClient
) -> None:
    stolen = back_office.csrf_token()
    other = BackOffice(TestClient(client.app)).signed_in(admin.email)
    assert other.csrf_token() != stolen
    assert other.submit("/item/create", FORM, token=stolen).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        CROSS_SITE,
        {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate"},
        {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"},
        {"Sec-Fetch-Site": "", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "", "Origin": "null"},
        {"Sec-Fetch-Site": "", "Referer": "https://evil.example/admin/"},
        {"Sec-Fetch-Site": ""},  # neither fetch metadata, nor Origin, nor Referer
    ],
    ids=["cross-site", "same-site", "typed", "origin", "null-origin", "referer", "nothing"],
)
def test_state_changes_from_elsewhere_are_refused(
    back_office: BackOffice, user: Account, headers: dict[str, str]
) -> None:
    headers = {name: value for name, value in headers.items() if value}
    client, token = back_office.client, back_office.csrf_token()
    form = {"csrf_token": token, **FORM}
    answers = [
        client.post(f"{ADMIN}/item/create", data=form, headers=headers),
        client.delete(
            f"{ADMIN}/user/delete?pks={user.id}", headers={"X-CSRF-Token": token, **headers}
        ),
        client.get(f"{ADMIN}/user/action/revoke-sessions?pks={user.id}", headers=headers),
        client.get(f"{ADMIN}/logout", headers=headers),
        client.post(f"{ADMIN}/login", data={"email": "a@b.c", "password": "x"}, headers=headers),
    ]
    assert [answer.status_code for answer in answers] == [403] * 5
    assert back_office.is_signed_in()


def test_older_browsers_are_checked_by_origin_or_referer(back_office: BackOffice) -> None:
    client, form = back_office.client, {"csrf_token": back_office.csrf_token(), **FORM}
    for headers in [{"Origin": "http://testserver"}, {"Referer": "http://testserver/admin/"}]:
        response = client.post(
            f"{ADMIN}/item/create", data=form, headers=headers, follow_redirects=False
        )
        assert response.status_code == 302, headers


def test_a_delete_needs_the_token_too(back_office: BackOffice, user: Account) -> None:
    response = back_office.client.delete(
        f"{ADMIN}/user/delete?pks={user.id}", headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 403


def test_pages_open_from_a_link_elsewhere_but_not_from_a_script(back_office: BackOffice) -> None:
    assert back_office.get("/user/list", **CROSS_SITE).status_code == 200
    fetched = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
    assert back_office.get("/user/list", **fetched).status_code == 403


# Odd ids and queries


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize(
    "pk", ["not-a-uuid", "1", "%00", "a/b", "9b2b0a4e-8f4e-4f7e-9c3e-2f1d6f0b5a11"]
)
def test_unknown_or_malformed_ids_are_404(back_office: BackOffice, screen: str, pk: str) -> None:
    for path in [f"/{screen}/details/{pk}", f"/{screen}/edit/{pk}"]:
        status = back_office.get(path).status_code
        assert status in (403, 404), (path, status)  # sessions and events are read-only
    delete = back_office.delete(screen, pk)
    assert delete.status_code in (403, 404)
    action = "revoke" if screen == "session" else "revoke-sessions"
    if screen in ("user", "session"):  # a NUL in a query string is refused before anything else
        assert back_office.action(screen, action, pk).status_code == (400 if pk == "%00" else 404)


def test_posting_an_edit_of_an_unknown_row_is_404(back_office: BackOffice) -> None:
    for path in [f"/user/edit/{uuid.uuid4()}", "/item/edit/nope"]:
        assert back_office.submit(path, {"title": "x", "email": "a@b.c"}).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "sortBy=password_hash",
        "sortBy=nope&sort=sideways",
        "page=abc",
        "page=-3",
        "page=99999999999999999999",
        "pageSize=0",
        "pageSize=-1",
        "pageSize=100000",
        "search=%00",
        "search=%ED%A0%80",
        f"search={'x' * 5000}",
        "search=%25_%5C",
        "role=%00",
        "role=GOD",
        "is_active=maybe",
        "status=sideways",
        "action=%00",
        "action=nope",
        "outcome=sideways",
    ],
)
def test_odd_queries_are_never_a_500(back_office: BackOffice, user: Account, query: str) -> None:
    for screen in SCREENS:
        response = back_office.get(f"/{screen}/list?{query}")
        # 302: SQLAdmin sends a page number out of range to the nearest page
        assert response.status_code in (200, 302, 400), (screen, query, response.status_code)


@pytest.mark.parametrize("value", ["%00", "%ED%A0%80", "%FF", "x" * 20_000])
def test_odd_form_values_are_never_a_500(
    back_office: BackOffice, user: Account, value: str
) -> None:
    token = back_office.csrf_token()
    for path, fields in [
        ("/item/create", ["title", "description"]),
        (f"/user/edit/{user.id}", ["name"]),
        ("/user/create", ["email", "password", "password_again"]),
    ]:
        body = f"csrf_token={token}&email={user.email}&role=USER&title=t&save=Save"
        body += "".join(f"&{field}={value}" for field in fields)
        response = back_office.client.post(
            f"{ADMIN}{path}",
            content=body.encode(),
            headers={**SAME_ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert response.status_code in (302, 400), (path, value[:9], response.status_code)


def test_an_unsupported_method_is_405_with_a_true_allow(back_office: BackOffice) -> None:
    response = back_office.client.put(f"{ADMIN}/user/list", headers=SAME_ORIGIN)
    assert response.status_code == 405
    assert re.fullmatch(r"GET(, HEAD)?|HEAD, GET", response.headers["allow"])


# A database that does not answer


def test_a_database_outage_is_a_503_page_or_a_message_never_a_500(
    back_office: BackOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = back_office.csrf_token()
    database = app_state(back_office.client.app).database

    reading = database.session

    def writes_fail(*, read_only: bool = False) -> Session:
        if read_only:
            return reading(read_only=True)
        raise OperationalError("BEGIN", {}, Exception("connection refused"))

    def unreachable(*, read_only: bool = False) -> Session:
        raise OperationalError("SELECT 1", {}, Exception(f"connection refused ({read_only})"))

    monkeypatch.setattr(database, "session", writes_fail)
    created = back_office.submit("/item/create", {"title": "x"}, token=token)
    assert created.status_code == 400
    assert alerts(created) == [ErrorCode.SERVICE_UNAVAILABLE.message]
    monkeypatch.setattr(database, "session", unreachable)
    for response in [
        back_office.get("/"),
        back_office.get("/user/list"),
        back_office.sign_in("admin@example.com"),
    ]:
        assert response.status_code == 503, response.url
        assert response.headers["retry-after"].isdigit()
        assert ErrorCode.SERVICE_UNAVAILABLE.message in response.text
    assert back_office.get("/login").status_code == 200  # the sign-in page needs none


def test_no_redirect_takes_its_host_from_the_request(browser: BackOffice, admin: Account) -> None:
    for path in ("", "/user/list"):  # a slash added; a sign-in asked for
        response = browser.client.get(
            f"{ADMIN}{path}", headers={"Host": "evil.example"}, follow_redirects=False
        )
        assert response.status_code in (301, 302, 303, 307), path
        assert response.headers["location"].startswith("/"), response.headers["location"]
        assert "evil" not in response.headers["location"]
    forged = {"Host": "evil.example", "Origin": "http://evil.example"}
    signed_in = browser.sign_in(admin.email, **forged)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == f"{ADMIN}/"


def test_a_link_cannot_put_words_on_a_page(back_office: BackOffice) -> None:
    notice = "Security notice: sign in again at https://evil.example"
    page = back_office.get(f"/user/list?error={notice.replace(' ', '+')}", **CROSS_SITE)
    assert page.status_code == 200
    assert alerts(page) == []
    assert "evil.example" not in page.text
