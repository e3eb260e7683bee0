"""Two-factor sign-in in the back office: the page that sets it up (QR code, confirm,
recovery codes) and turns it off, the sign-in's code step, and REQUIRE_ADMIN_2FA."""

import html
import re
from collections.abc import Callable

import pyotp
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, col, update

from app.models import Role, TotpFactor
from tests.admin.pages import ADMIN, COOKIE, SAME_ORIGIN, TOKEN_META, BackOffice, alerts, notices
from tests.helpers import PASSWORD, Account, fresh

PAGE = "/two-factor"
SECRET = re.compile(r'id="two-factor-secret">([A-Z2-7]+)<')
CHALLENGE = re.compile(r'name="challenge_token" value="([^"]+)"')
RECOVERY = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")


def token_of(page: Response) -> str:
    match = TOKEN_META.search(page.text)
    assert match is not None
    return match.group(1)


def submit(browser: BackOffice, data: dict[str, str]) -> Response:
    """Post one of the two-factor page's forms, with the page's CSRF token."""
    token = token_of(browser.get(PAGE))
    return browser.submit(PAGE, data, token=token)


def forget_used_codes(db: Session, admin: Account) -> None:
    fresh(db).exec(
        update(TotpFactor).where(col(TotpFactor.user_id) == admin.id).values(last_used_step=None)
    )
    db.commit()


def set_up(browser: BackOffice) -> tuple[str, list[str]]:
    """Set up two-factor sign-in on the page; returns the secret and recovery codes."""
    started = submit(browser, {"step": "start", "password": PASSWORD})
    assert started.status_code == 303, started.text
    page = browser.get(PAGE)
    match = SECRET.search(page.text)
    assert match is not None, page.text
    secret = match.group(1)
    confirmed = submit(browser, {"step": "confirm", "code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200, confirmed.text
    codes = RECOVERY.findall(confirmed.text)
    assert len(codes) == 10
    return secret, codes


def sign_in_with_code(browser: BackOffice, email: str, code: str) -> Response:
    """The sign-in page's two steps: the password, then the code."""
    first = browser.sign_in(email)
    assert first.status_code == 200, first.text
    assert 'id="two-factor-step"' in first.text
    assert COOKIE not in first.headers.get("set-cookie", "")
    match = CHALLENGE.search(first.text)
    assert match is not None
    return browser.client.post(
        f"{ADMIN}/login",
        data={"challenge_token": html.unescape(match.group(1)), "code": code, "email": email},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )


def test_the_page_sets_it_up_with_a_qr_code(back_office: BackOffice) -> None:
    page = back_office.get(PAGE)
    assert page.status_code == 200
    assert "Two-factor sign-in is <strong>off</strong>" in page.text
    wrong = submit(back_office, {"step": "start", "password": "wrong password"})
    assert wrong.status_code == 400
    assert alerts(wrong) == ["Current password is wrong"]

    assert submit(back_office, {"step": "start", "password": PASSWORD}).status_code == 303
    pending = back_office.get(PAGE)
    assert 'src="data:image/svg+xml' in pending.text
    assert 'id="two-factor-confirm"' in pending.text
    match = SECRET.search(pending.text)
    assert match is not None
    secret = match.group(1)
    bad = submit(back_office, {"step": "confirm", "code": "000000"})
    assert bad.status_code == 400
    assert alerts(bad) == ["Invalid or already used code"]

    confirmed = submit(back_office, {"step": "confirm", "code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200
    assert len(RECOVERY.findall(confirmed.text)) == 10
    after = back_office.get(PAGE)
    assert "Two-factor sign-in is <strong>on</strong>" in after.text
    assert "10 recovery codes left" in after.text
    assert secret not in after.text  # shown until confirmed, never again
    assert "recovery-codes" not in after.text


def test_signing_in_asks_for_a_code(
    back_office: BackOffice, browser: BackOffice, admin: Account, db: Session
) -> None:
    secret, codes = set_up(back_office)
    back_office.sign_out()
    forget_used_codes(db, admin)

    wrong = sign_in_with_code(browser, admin.email, "000000")
    assert wrong.status_code == 401
    assert alerts(wrong) == ["Invalid or already used code"]
    assert CHALLENGE.search(wrong.text) is not None  # asked again
    assert not browser.is_signed_in()

    signed_in = sign_in_with_code(browser, admin.email, pyotp.TOTP(secret).now())
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"].endswith(f"{ADMIN}/")
    assert browser.is_signed_in()
    browser.sign_out()
    recovered = sign_in_with_code(browser, admin.email, codes[0])
    assert recovered.status_code == 303
    browser.sign_out()
    again = sign_in_with_code(browser, admin.email, codes[0])
    assert again.status_code == 401


def test_a_bad_challenge_goes_back_to_the_password(browser: BackOffice, admin: Account) -> None:
    response = browser.client.post(
        f"{ADMIN}/login",
        data={"challenge_token": "forged", "code": "123456", "email": admin.email},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert alerts(response) == ["Invalid or expired sign-in challenge: sign in again"]
    assert 'type="password"' in response.text


def test_the_page_turns_it_off_with_password_and_code(
    back_office: BackOffice, admin: Account, db: Session
) -> None:
    secret, _codes = set_up(back_office)
    forget_used_codes(db, admin)
    code = pyotp.TOTP(secret).now()
    refused = submit(back_office, {"step": "disable", "password": "wrong password", "code": code})
    assert refused.status_code == 400
    off = submit(back_office, {"step": "disable", "password": PASSWORD, "code": code})
    assert off.status_code == 303
    page = back_office.get(PAGE)
    assert "Two-factor sign-in is <strong>off</strong>" in page.text
    assert "Two-factor sign-in is off." in page.text


def test_required_two_factor_opens_only_the_set_up_page(
    make_client: Callable[..., TestClient], make_account: Callable[..., Account], db: Session
) -> None:
    client = make_client(require_admin_2fa=True)
    admin = make_account(role=Role.ADMIN)
    browser = BackOffice(client)
    assert browser.sign_in(admin.email).status_code == 303
    for path in ("/", "/user/list", f"/user/details/{admin.id}"):
        response = browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].endswith(f"{ADMIN}{PAGE}")
    page = browser.get(PAGE)
    assert page.status_code == 200
    assert 'id="two-factor-required"' in page.text
    secret, _codes = set_up(browser)
    # Confirming proved a second factor: this sign-in now opens everything.
    assert browser.get("/").status_code == 200
    assert browser.get("/user/list").status_code == 200

    # A later sign-in asks for the code, and then opens everything.
    browser.sign_out()
    forget_used_codes(db, admin)
    signed_in = sign_in_with_code(browser, admin.email, pyotp.TOTP(secret).now())
    assert signed_in.status_code == 303
    assert browser.get("/user/list").status_code == 200


def test_a_sign_in_from_before_the_enrolment_is_sent_back_when_required(
    make_client: Callable[..., TestClient], back_office: BackOffice, admin: Account
) -> None:
    strict = BackOffice(make_client(require_admin_2fa=True)).signed_in(admin.email)
    set_up(back_office)  # another sign-in sets it up (and proves it)
    response = strict.get("/user/list")
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"{ADMIN}{PAGE}")
    assert "sign out, then sign in again" in strict.get(PAGE).text
    assert back_office.get("/user/list").status_code == 200


def test_an_admin_turns_off_a_users_two_factor_from_the_users_screen(
    back_office: BackOffice, client: TestClient, user: Account, other_user: Account, db: Session
) -> None:
    headers = {"Authorization": f"Bearer {user.access_token}"}
    started = client.post(
        "/api/v1/users/me/two-factor", json={"currentPassword": PASSWORD}, headers=headers
    )
    assert started.status_code == 201
    done = back_office.action("user", "reset-two-factor", user.id, other_user.id)
    assert notices(back_office.next_page(done)) == ["Two-factor sign-in turned off for 1 user."]
    assert fresh(db).get(TotpFactor, user.id) is None
