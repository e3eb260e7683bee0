"""Email verification (REQUIRE_EMAIL_VERIFICATION): proving an address by a mailed link."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, update

from app.core.errors import ErrorCode
from app.models import Role, User
from app.models.fields import utcnow
from app.services import mail
from app.services.mail import Mail
from tests.helpers import API, PASSWORD, Account, error_body, login, stored

NEW = {"email": "new@example.com", "password": PASSWORD, "name": "New"}


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> list[Mail]:
    """The mails the app sends (instead of sending them)."""
    sent: list[Mail] = []
    monkeypatch.setattr(mail, "send", lambda _settings, message: sent.append(message))
    return sent


@pytest.fixture
def verifying(make_client: Callable[..., TestClient]) -> TestClient:
    """An app that requires verified addresses."""
    return make_client(require_email_verification=True)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> tuple[int, dict[str, str]]:
    response = client.post(f"{API}/auth/login", json={"email": email, "password": password})
    return response.status_code, response.json()


def verify(client: TestClient, token: str) -> int:
    return client.post(f"{API}/auth/verify-email", json={"token": token}).status_code


def test_sign_up_mails_a_link_and_an_unverified_account_cannot_sign_in(
    verifying: TestClient, outbox: list[Mail]
) -> None:
    created = verifying.post(f"{API}/auth/register", json=NEW)
    assert created.status_code == 201, created.text
    assert created.json()["emailVerified"] is False
    [link] = outbox
    assert (link.kind, link.to) == ("verify", "new@example.com")

    assert sign_in(verifying, "new@example.com") == (
        403,
        error_body(ErrorCode.EMAIL_NOT_VERIFIED),
    )
    assert sign_in(verifying, "new@example.com", "a wrong password")[0] == 401  # nothing leaks

    assert verify(verifying, link.token) == 204
    assert sign_in(verifying, "new@example.com")[0] == 200
    assert verify(verifying, link.token) == 400  # used


def test_a_link_dies_when_the_email_changes(verifying: TestClient, outbox: list[Mail]) -> None:
    assert verifying.post(f"{API}/auth/register", json=NEW).status_code == 201
    [first] = outbox
    assert verify(verifying, first.token) == 204
    tokens = login(verifying, "new@example.com")
    change = {"email": "moved@example.com", "currentPassword": PASSWORD}
    moved = verifying.patch(
        f"{API}/users/me", json=change, headers={"Authorization": f"Bearer {tokens['accessToken']}"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["emailVerified"] is False  # the new address is unproven
    [_, second] = outbox
    assert second.to == "moved@example.com"
    assert verify(verifying, first.token) == 400  # issued for the old address
    assert verify(verifying, second.token) == 204


def test_a_used_link_stays_dead_when_the_email_comes_back(
    verifying: TestClient, outbox: list[Mail]
) -> None:
    assert verifying.post(f"{API}/auth/register", json=NEW).status_code == 201
    [first] = outbox
    assert verify(verifying, first.token) == 204
    headers = {"Authorization": f"Bearer {login(verifying, NEW['email'])['accessToken']}"}
    for email in ("moved@example.com", NEW["email"]):  # A -> B -> A: unverified again
        change = {"email": email, "currentPassword": PASSWORD}
        response = verifying.patch(f"{API}/users/me", json=change, headers=headers)
        assert response.status_code == 200, response.text
    last = outbox[-1]
    assert last.to == NEW["email"]
    assert verify(verifying, first.token) == 400  # used, and issued before the changes
    assert verify(verifying, last.token) == 204


@pytest.mark.parametrize("token", ["garbage", "x" * 300])
def test_a_bad_token_is_one_400(verifying: TestClient, token: str) -> None:
    response = verifying.post(f"{API}/auth/verify-email", json={"token": token})
    assert response.status_code == 400
    assert response.json() == error_body(ErrorCode.VERIFICATION_TOKEN_INVALID)


def test_resend_answers_the_same_and_mails_at_most_once_a_minute(
    verifying: TestClient, outbox: list[Mail], user: Account, db: Session
) -> None:
    assert verifying.post(f"{API}/auth/register", json=NEW).status_code == 201
    outbox.clear()

    answers = [
        verifying.post(f"{API}/auth/verify-email/resend", json={"email": email})
        for email in ("new@example.com", "new@example.com", "nobody@example.com", user.email)
    ]
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.content for answer in answers}) == 1
    assert [message.to for message in outbox] == []  # the sign-up mail went out just now

    db.exec(update(User).values(verification_sent_at=utcnow().replace(year=2000)))
    db.commit()
    verifying.post(f"{API}/auth/verify-email/resend", json={"email": "new@example.com"})
    verifying.post(f"{API}/auth/verify-email/resend", json={"email": "new@example.com"})
    assert [message.to for message in outbox] == ["new@example.com"]  # verified users: none


def test_without_the_requirement_accounts_count_as_verified(
    client: TestClient, outbox: list[Mail]
) -> None:
    created = client.post(f"{API}/auth/register", json=NEW)
    assert created.json()["emailVerified"] is True
    assert outbox == []


def test_a_completed_reset_verifies_the_address(
    verifying: TestClient, outbox: list[Mail], db: Session
) -> None:
    assert verifying.post(f"{API}/auth/register", json=NEW).status_code == 201
    verifying.post(f"{API}/auth/password-reset", json={"email": "new@example.com"})
    [_, reset] = outbox
    confirmed = verifying.post(
        f"{API}/auth/password-reset/confirm",
        json={"token": reset.token, "newPassword": "a brand new password"},
    )
    assert confirmed.status_code == 204, confirmed.text
    assert sign_in(verifying, "new@example.com", "a brand new password")[0] == 200


def test_admins_set_and_clear_verification(
    verifying: TestClient, admin: Account, make_account: Callable[..., Account], db: Session
) -> None:
    member = make_account(role=Role.USER)
    url = f"{API}/users/{member.id}"
    cleared = verifying.patch(url, json={"emailVerified": False}, headers=admin.headers)
    assert cleared.json()["emailVerified"] is False
    assert sign_in(verifying, member.email)[0] == 403
    restored = verifying.patch(url, json={"emailVerified": True}, headers=admin.headers)
    assert restored.json()["emailVerified"] is True
    assert sign_in(verifying, member.email)[0] == 200
    row = stored(db, User, member.id)
    assert row is not None
    assert row.email_verified_at is not None


def test_users_created_by_an_admin_start_verified(verifying: TestClient, admin: Account) -> None:
    body = {"email": "staff@example.com", "password": PASSWORD}
    created = verifying.post(f"{API}/users", json=body, headers=admin.headers)
    assert created.json()["emailVerified"] is True
    assert sign_in(verifying, "staff@example.com")[0] == 200
