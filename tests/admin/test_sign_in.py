"""Signing in to the back office: admins only, with the rules of `/auth/login`, a
session row like any other, and a cookie the page's scripts cannot read."""

from collections.abc import Callable
from datetime import timedelta

import bcrypt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select, update

from app.models import AuthSession, LoginThrottle, Role
from app.models.fields import utcnow
from tests.admin.pages import ADMIN, COOKIE, CROSS_SITE, BackOffice, alerts
from tests.helpers import (
    API,
    PASSWORD,
    Account,
    bearer,
    count_rows,
    fresh,
    refresh_status,
)

WRONG = "wrong password"
TEST_SECRET = "a-production-secret-key-that-is-long-enough"


def sessions_of(db: Session, account: Account) -> int:
    return count_rows(db, AuthSession, col(AuthSession.user_id) == account.id)


def test_the_sign_in_page_asks_for_email_and_password(browser: BackOffice) -> None:
    page = browser.get("/login")
    assert page.status_code == 200
    assert 'name="email"' in page.text
    assert 'type="password"' in page.text


def test_an_admin_signs_in_and_sees_the_home_page(
    browser: BackOffice, admin: Account, db: Session
) -> None:
    before = sessions_of(db, admin)
    response = browser.sign_in(admin.email)
    assert response.status_code == 303
    assert response.headers["location"] == f"{ADMIN}/"
    assert sessions_of(db, admin) == before + 1
    home = browser.get("/")
    assert home.status_code == 200
    for figure in ("Users", "Admins", "Active sessions", "Items"):
        assert figure in home.text


def test_the_cookie_is_http_only_same_site_lax_and_scoped_to_the_back_office(
    browser: BackOffice, admin: Account
) -> None:
    cookie = browser.sign_in(admin.email).headers["set-cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert attributes[0].startswith(f"{COOKIE}=")
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert f"path={ADMIN}" in attributes
    assert "secure" not in attributes  # only in production: development runs on http


def test_the_cookie_is_secure_in_production(
    make_client: Callable[..., TestClient], admin: Account
) -> None:
    client = make_client(environment="production", jwt_secret_key=TEST_SECRET)
    cookie = BackOffice(client).sign_in(admin.email).headers["set-cookie"]
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_a_user_with_the_right_password_gets_the_answer_of_a_wrong_password(
    browser: BackOffice, user: Account, db: Session
) -> None:
    before = sessions_of(db, user)
    right = browser.sign_in(user.email, PASSWORD)
    wrong = browser.sign_in(user.email, WRONG)
    unknown = browser.sign_in("nobody@example.com", WRONG)
    assert right.status_code == wrong.status_code == 401
    assert alerts(right) == alerts(wrong) == ["Invalid email or password"]
    assert right.text == wrong.text
    assert unknown.text == right.text.replace(user.email, "nobody@example.com")
    assert "set-cookie" not in right.headers
    assert sessions_of(db, user) == before  # no session opened


def test_a_user_signing_in_counts_as_a_failed_sign_in(
    browser: BackOffice, user: Account, db: Session
) -> None:
    browser.sign_in(user.email, PASSWORD)
    assert count_rows(db, LoginThrottle, col(LoginThrottle.key) == f"email:{user.email}") == 1
    failures = db.get(LoginThrottle, f"email:{user.email}")
    assert failures is not None
    assert failures.failures == 1
    for _ in range(4):
        assert browser.sign_in(user.email, PASSWORD).status_code == 401
    throttled = browser.sign_in(user.email, PASSWORD)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"].isdigit()
    # the same budget as the API's: the user is throttled there too
    api = browser.client.post(f"{API}/auth/login", json={"email": user.email, "password": PASSWORD})
    assert api.status_code == 429


def test_an_admin_is_throttled_like_at_the_api(browser: BackOffice, admin: Account) -> None:
    for _ in range(5):
        assert browser.sign_in(admin.email, WRONG).status_code == 401
    throttled = browser.sign_in(admin.email, PASSWORD)
    assert throttled.status_code == 429
    assert alerts(throttled) == ["Too many failed sign-ins; try again later"]
    assert int(throttled.headers["retry-after"]) > 0
    assert not browser.is_signed_in()


def test_every_refusal_costs_one_password_check(
    browser: BackOffice, user: Account, admin: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed_password: bytes) -> bool:
        calls.append(hashed_password)
        return real(password, hashed_password)

    monkeypatch.setattr("app.core.passwords.bcrypt.checkpw", counting)
    for email, password in [
        ("nobody@example.com", WRONG),
        (admin.email, WRONG),
        (user.email, PASSWORD),
    ]:
        assert browser.sign_in(email, password).status_code == 401
    assert len(calls) == 3
    assert len({hashed[:7] for hashed in calls}) == 1  # same variant and cost


def test_an_inactive_admin_is_told_the_account_is_disabled(
    browser: BackOffice, make_account: Callable[..., Account]
) -> None:
    disabled = make_account("disabled-admin@example.com", role=Role.ADMIN, is_active=False)
    response = browser.sign_in(disabled.email)
    assert response.status_code == 403
    assert alerts(response) == ["Account is disabled"]
    assert alerts(browser.sign_in(disabled.email, WRONG)) == ["Invalid email or password"]


@pytest.mark.parametrize(
    ("email", "password"),
    [("not an email", PASSWORD), ("", ""), ("admin@example.com", "x" * 2000), ("a\x00@b.c", "p")],
)
def test_malformed_sign_ins_get_the_wrong_password_answer(
    browser: BackOffice, admin: Account, email: str, password: str
) -> None:
    response = browser.sign_in(email, password)
    assert response.status_code == 401
    assert alerts(response) == ["Invalid email or password"]


def test_the_sign_in_shows_in_the_users_session_list(browser: BackOffice, admin: Account) -> None:
    browser.signed_in(admin.email, **{"User-Agent": "BackOfficeBrowser/1.0"})
    listed = browser.client.get(f"{API}/auth/sessions", headers=bearer(admin.access_token))
    assert [row["userAgent"] for row in listed.json()].count("BackOfficeBrowser/1.0") == 1


def test_pages_need_a_sign_in(browser: BackOffice) -> None:
    for path in [
        "/",
        "/user/list",
        "/item/list",
        "/session/list",
        "/audit-event/list",
        "/user/create",
    ]:
        response = browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"{ADMIN}/login"


def test_a_forged_or_foreign_cookie_is_no_sign_in(
    browser: BackOffice, admin: Account, user: Account
) -> None:
    spent = admin.refresh_token
    assert refresh_status(browser.client, spent) == 200  # rotated: the old one is spent
    for value in ["garbage", admin.access_token, user.refresh_token, spent]:
        browser.client.cookies.set(COOKIE, value, path=ADMIN)
        assert not browser.is_signed_in(), value
        browser.client.cookies.clear()


def test_signing_out_ends_the_session(back_office: BackOffice, admin: Account, db: Session) -> None:
    response = back_office.sign_out()
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"{ADMIN}/login")
    assert f'{COOKIE}=""' in response.headers["set-cookie"]
    assert count_rows(db, AuthSession, col(AuthSession.revoked_at).is_not(None)) == 1
    assert not back_office.is_signed_in()


def test_signing_out_from_another_site_is_refused(back_office: BackOffice) -> None:
    assert back_office.get("/logout", **CROSS_SITE).status_code == 403
    assert back_office.is_signed_in()


def test_the_back_office_can_be_turned_off(
    make_client: Callable[..., TestClient], admin: Account
) -> None:
    client = make_client(admin_ui=False)
    for path in [ADMIN, f"{ADMIN}/", f"{ADMIN}/login", f"{ADMIN}/statics/css/main.css"]:
        assert client.get(path).status_code == 404, path
    assert client.get("/health").status_code == 200


def test_the_back_office_is_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get(f"{API}/openapi.json").json()["paths"]
    assert not [path for path in paths if "admin" in path]


def test_signing_out_of_an_ended_session_still_signs_out(
    back_office: BackOffice, admin: Account
) -> None:
    assert (
        back_office.client.post(f"{API}/auth/logout-all", headers=admin.headers).status_code == 204
    )
    response = back_office.sign_out()
    assert response.status_code == 303
    assert f'{COOKIE}=""' in response.headers["set-cookie"]


def test_using_the_back_office_records_the_sessions_last_use(
    back_office: BackOffice, admin: Account, db: Session
) -> None:
    long_ago = utcnow() - timedelta(hours=1)
    db.exec(update(AuthSession).values(last_used_at=long_ago))
    db.commit()
    assert back_office.is_signed_in()
    rows = fresh(db).exec(select(AuthSession).where(col(AuthSession.last_used_at) > long_ago))
    assert len(rows.all()) == 1  # this sign-in's, not the API sign-in's
    db.commit()
