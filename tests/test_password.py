"""Changing a password (`/users/me/password`) and resetting one by email."""

import logging
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.config import Settings
from app.fields import utcnow
from app.mail import send_password_reset
from app.models import User
from app.tokens import create_reset_token, create_token, fingerprint
from tests.conftest import TEST_SECRET
from tests.helpers import (
    API,
    NEW_PASSWORD,
    PASSWORD,
    Account,
    assert_unauthorized,
    change_password,
    confirm_reset,
    free_port,
    login,
    login_status,
    me_status,
    refresh_status,
    settings_of,
    unverified_claims,
)

FRONTEND = "https://app.example"
SMTP_USER = "mailer"
SMTP_PASSWORD = "mailer-secret"


def request_reset(client: TestClient, email: str) -> Any:
    return client.post(f"{API}/auth/password-reset", json={"email": email})


def reset_token_for(client: TestClient, db: Session, account: Account) -> str:
    db.commit()
    stored = db.get(User, account.id, populate_existing=True)
    assert stored is not None
    db.commit()
    return create_reset_token(
        settings_of(client), user_id=account.id, password_hash=stored.password_hash
    )


# Changing the password while signed in


def test_change_password(client: TestClient, user: Account) -> None:
    response = change_password(
        client, user.access_token, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert login_status(client, user.email, PASSWORD) == 401
    assert login_status(client, user.email, NEW_PASSWORD) == 200


def test_change_password_accepts_snake_case(client: TestClient, user: Account) -> None:
    response = change_password(
        client, user.access_token, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204, response.text
    assert login_status(client, user.email, NEW_PASSWORD) == 200


def test_change_password_with_a_wrong_current_password_is_400(
    client: TestClient, user: Account
) -> None:
    for current in ("wrong password", "", "x" * 100, PASSWORD.upper()):
        response = change_password(
            client, user.access_token, {"currentPassword": current, "newPassword": NEW_PASSWORD}
        )
        assert response.status_code == 400, response.text
        assert isinstance(response.json()["detail"], str)
    assert login_status(client, user.email, PASSWORD) == 200
    assert login_status(client, user.email, NEW_PASSWORD) == 401


@pytest.mark.parametrize(
    "body",
    [
        {"currentPassword": PASSWORD, "newPassword": "short"},
        {"currentPassword": PASSWORD, "newPassword": "seven77"},
        {"currentPassword": PASSWORD, "newPassword": "\u20ac" * 24 + "a"},  # 73 bytes
        {"currentPassword": PASSWORD, "newPassword": "x" * 73},
        {"currentPassword": PASSWORD, "newPassword": "with\x00nul!"},
        {"currentPassword": PASSWORD},
        {"newPassword": NEW_PASSWORD},
    ],
    ids=["5-chars", "7-chars", "73-bytes-euro", "73-bytes", "nul", "no-new", "no-current"],
)
def test_change_password_refuses_invalid_input(
    client: TestClient, user: Account, body: dict[str, Any]
) -> None:
    response = change_password(client, user.access_token, body)
    assert response.status_code == 422, response.text
    assert login_status(client, user.email, PASSWORD) == 200


def test_change_password_accepts_72_bytes(client: TestClient, user: Account) -> None:
    new = "\u20ac" * 24
    response = change_password(
        client, user.access_token, {"currentPassword": PASSWORD, "newPassword": new}
    )
    assert response.status_code == 204, response.text
    assert login_status(client, user.email, new) == 200


def test_change_password_needs_a_signed_in_user(client: TestClient) -> None:
    response = client.patch(
        f"{API}/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    )
    assert_unauthorized(response)


def test_change_password_keeps_this_session_and_ends_the_others(
    client: TestClient, user: Account, other_user: Account
) -> None:
    second = login(client, user.email)
    response = change_password(
        client, user.access_token, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert response.status_code == 204, response.text
    # the caller's session goes on: access and refresh
    assert me_status(client, user.access_token) == 200
    assert refresh_status(client, user.refresh_token) == 200
    # the user's other session is signed out: access and refresh
    assert me_status(client, second["accessToken"]) == 401
    assert refresh_status(client, second["refreshToken"]) == 401
    # other users are not affected
    assert me_status(client, other_user.access_token) == 200
    assert refresh_status(client, other_user.refresh_token) == 200


# Password reset: the request


def test_reset_request_answers_the_same_for_any_email(
    client: TestClient, user: Account, inactive_user: Account
) -> None:
    known = request_reset(client, user.email)
    unknown = request_reset(client, "nobody@example.com")
    inactive = request_reset(client, inactive_user.email)
    for response in (known, unknown, inactive):
        assert response.status_code == 202, response.text
        assert set(response.json()) == {"detail"}
        assert isinstance(response.json()["detail"], str)
    assert known.json() == unknown.json() == inactive.json()
    assert known.content == unknown.content


@pytest.mark.parametrize("body", [{}, {"email": "not-an-email"}, {"email": None}])
def test_reset_request_refuses_invalid_input(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post(f"{API}/auth/password-reset", json=body).status_code == 422


def test_reset_link_is_logged_in_test_without_smtp(
    client: TestClient, user: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.mail")
    assert request_reset(client, "nobody@example.com").status_code == 202
    assert [r for r in caplog.records if r.name == "app.mail"] == []
    assert request_reset(client, "USER@example.com").status_code == 202
    records = [r for r in caplog.records if r.name == "app.mail"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert user.email in message
    token = token_from_link(message, "http://localhost:3000")
    assert confirm_reset(client, token).status_code == 204
    assert login_status(client, user.email, NEW_PASSWORD) == 200


# Password reset: mail through a real SMTP server on loopback


@dataclass
class Mailbox:
    """What the SMTP server received, and who signed in to it."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_port(mailbox: Mailbox) -> Iterator[int]:
    """A plain SMTP server on loopback delivering into `mailbox`."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
def mail_client(make_client: Callable[..., TestClient], smtp_port: int) -> TestClient:
    return make_client(
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_starttls=False,
        smtp_from="accounts@app.example",
        frontend_url=FRONTEND,
    )


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def token_from_link(text: str, frontend: str = FRONTEND) -> str:
    links = [word for word in text.split() if word.startswith(f"{frontend}/reset-password?")]
    assert len(links) == 1, text
    url = urlsplit(links[0])
    tokens = parse_qs(url.query)["token"]
    assert len(tokens) == 1
    return tokens[0]


def test_reset_by_email_end_to_end(
    mail_client: TestClient, mailbox: Mailbox, user: Account, other_user: Account
) -> None:
    earlier = login(mail_client, user.email)
    response = request_reset(mail_client, "User@Example.com")
    assert response.status_code == 202, response.text
    (message,) = mailbox.wait_for(1)
    assert mailbox.envelopes == [("accounts@app.example", [user.email])]
    assert message["To"] == user.email
    assert message["From"] == "accounts@app.example"
    assert "password" in str(message["Subject"]).lower()
    token = token_from_link(body_of(message))
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    assert claims["type"] == "reset"
    assert claims["sub"] == str(user.id)
    assert 0 < claims["exp"] - claims["iat"] <= 60 * 60

    confirmed = confirm_reset(mail_client, token)
    assert confirmed.status_code == 204, confirmed.text
    assert confirmed.content == b""
    assert login_status(mail_client, user.email, NEW_PASSWORD) == 200
    assert login_status(mail_client, user.email, PASSWORD) == 401
    # every session that existed before the reset is signed out
    for account_tokens in (earlier, {"accessToken": user.access_token}):
        assert me_status(mail_client, account_tokens["accessToken"]) == 401
    assert refresh_status(mail_client, earlier["refreshToken"]) == 401
    assert refresh_status(mail_client, user.refresh_token) == 401
    # other users keep theirs
    assert me_status(mail_client, other_user.access_token) == 200
    # the token works once
    again = confirm_reset(mail_client, token, "yet another password")
    assert again.status_code == 400
    assert isinstance(again.json()["detail"], str)
    assert login_status(mail_client, user.email, NEW_PASSWORD) == 200


def test_reset_for_an_unknown_email_sends_no_mail(
    mail_client: TestClient, mailbox: Mailbox, user: Account
) -> None:
    assert request_reset(mail_client, "nobody@example.com").status_code == 202
    assert request_reset(mail_client, user.email).status_code == 202
    mailbox.wait_for(1)
    time.sleep(0.05)  # a stray mail for the unknown email would have arrived by now
    assert mailbox.envelopes == [("accounts@app.example", [user.email])]


def test_reset_for_an_inactive_user_sends_no_mail(
    mail_client: TestClient, mailbox: Mailbox, user: Account, inactive_user: Account
) -> None:
    assert request_reset(mail_client, inactive_user.email).status_code == 202
    assert request_reset(mail_client, user.email).status_code == 202
    mailbox.wait_for(1)
    time.sleep(0.05)
    assert [rcpt for _sender, rcpt in mailbox.envelopes] == [[user.email]]


def test_an_unreachable_smtp_server_does_not_break_the_request(
    make_client: Callable[..., TestClient], user: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.mail")
    refused = make_client(
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False, smtp_timeout=2
    )
    response = request_reset(refused, user.email)
    assert response.status_code == 202, response.text
    errors = [r for r in caplog.records if r.name == "app.mail" and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    # the service goes on answering
    assert request_reset(refused, user.email).status_code == 202
    assert login_status(refused, user.email, PASSWORD) == 200


# Password reset: STARTTLS and AUTH


class OneUser:
    """An aiosmtpd authenticator that accepts SMTP_USER / SMTP_PASSWORD only."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    def __call__(
        self, _server: Any, _session: Any, _envelope: Any, _mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == SMTP_USER.encode()
            and auth_data.password == SMTP_PASSWORD.encode()
        )
        if ok:
            self.mailbox.logins.append(SMTP_USER)
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for IP 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_smtp_port(mailbox: Mailbox, certificate: tuple[Path, Path]) -> Iterator[int]:
    """An SMTP server that requires STARTTLS, then AUTH as SMTP_USER."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=OneUser(mailbox),
        auth_required=True,
    )
    controller.start()
    yield port
    controller.stop()


def test_reset_mail_over_starttls_with_auth(
    make_client: Callable[..., TestClient],
    mailbox: Mailbox,
    tls_smtp_port: int,
    certificate: tuple[Path, Path],
    user: Account,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="app.mail")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    secure = make_client(
        smtp_host="127.0.0.1",
        smtp_port=tls_smtp_port,
        smtp_starttls=True,
        smtp_user=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
        frontend_url=FRONTEND,
    )
    assert request_reset(secure, user.email).status_code == 202
    (message,) = mailbox.wait_for(1)
    assert [r.getMessage() for r in caplog.records if r.name == "app.mail"] == []
    assert mailbox.logins == [SMTP_USER]
    assert message["To"] == user.email
    token = token_from_link(body_of(message))
    assert confirm_reset(secure, token).status_code == 204
    assert login_status(secure, user.email, NEW_PASSWORD) == 200


def test_starttls_refuses_an_untrusted_certificate(
    make_client: Callable[..., TestClient],
    mailbox: Mailbox,
    tls_smtp_port: int,
    user: Account,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="app.mail")
    empty_store = tmp_path / "empty.pem"
    empty_store.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty_store))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    secure = make_client(
        smtp_host="127.0.0.1",
        smtp_port=tls_smtp_port,
        smtp_starttls=True,
        smtp_user=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
    )
    assert request_reset(secure, user.email).status_code == 202
    time.sleep(0.05)
    assert mailbox.messages == []
    assert mailbox.logins == []  # the password was never sent over an unverified channel
    errors = [r for r in caplog.records if r.name == "app.mail" and r.levelno >= logging.ERROR]
    assert len(errors) == 1


# Password reset: mail without SMTP, by environment


def test_without_smtp_development_logs_the_link(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="app.mail")
    settings = Settings(
        _env_file=None,
        environment="development",
        jwt_secret_key=TEST_SECRET,
        frontend_url=FRONTEND,
    )
    send_password_reset(settings, "someone@example.com", "the-token")
    records = [r for r in caplog.records if r.name == "app.mail"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert "someone@example.com" in message
    assert f"{FRONTEND}/reset-password?token=the-token" in message


def test_without_smtp_production_does_not_log_the_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.mail")
    settings = Settings(
        _env_file=None,
        environment="production",
        jwt_secret_key="p" * 40,
        frontend_url=FRONTEND,
    )
    send_password_reset(settings, "someone@example.com", "the-token")
    records = [r for r in caplog.records if r.name == "app.mail"]
    assert records, "production must say that the mail was not sent"
    assert any(r.levelno >= logging.ERROR and "SMTP" in r.getMessage() for r in records)
    for record in records:
        assert "the-token" not in record.getMessage()
        assert "reset-password" not in record.getMessage()
    assert "the-token" not in caplog.text


# Password reset: the confirmation


def test_reset_confirm_accepts_snake_case(client: TestClient, user: Account, db: Session) -> None:
    token = reset_token_for(client, db, user)
    response = client.post(
        f"{API}/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204, response.text
    assert login_status(client, user.email, NEW_PASSWORD) == 200


def test_reset_confirm_revokes_every_session(
    client: TestClient, user: Account, db: Session
) -> None:
    second = login(client, user.email)
    assert confirm_reset(client, reset_token_for(client, db, user)).status_code == 204
    for access in (user.access_token, second["accessToken"]):
        assert me_status(client, access) == 401
    for refresh in (user.refresh_token, second["refreshToken"]):
        assert refresh_status(client, refresh) == 401
    fresh = login(client, user.email, NEW_PASSWORD)
    assert me_status(client, fresh["accessToken"]) == 200


@pytest.mark.parametrize(
    "token", ["garbage", "", "a.b.c", "x" * 4096], ids=["word", "empty", "dots", "4096"]
)
def test_reset_confirm_refuses_a_garbage_token(
    client: TestClient, user: Account, token: str
) -> None:
    response = confirm_reset(client, token)
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["detail"], str)
    assert login_status(client, user.email, PASSWORD) == 200


def test_reset_confirm_refuses_an_oversized_token(client: TestClient) -> None:
    response = confirm_reset(client, "x" * 5000)
    assert response.status_code in (400, 422)


def test_reset_confirm_refuses_an_expired_token(
    client: TestClient, user: Account, db: Session
) -> None:
    settings = settings_of(client)
    stored = db.get(User, user.id)
    assert stored is not None
    claims = {"pwd": fingerprint(settings, stored.password_hash)}

    def reset_token(minutes: int) -> str:
        return create_token(
            settings,
            token_type="reset",
            subject=user.id,
            expires_at=utcnow() + timedelta(minutes=minutes),
            claims=claims,
        )

    expired = confirm_reset(client, reset_token(-1))
    assert expired.status_code == 400, expired.text
    assert login_status(client, user.email, PASSWORD) == 200
    # control: the same token, still valid, is accepted
    assert confirm_reset(client, reset_token(5)).status_code == 204


def test_reset_confirm_refuses_session_tokens(client: TestClient, user: Account) -> None:
    for token in (user.access_token, user.refresh_token):
        response = confirm_reset(client, token)
        assert response.status_code == 400, response.text
    assert login_status(client, user.email, PASSWORD) == 200
    assert me_status(client, user.access_token) == 200


def test_reset_confirm_refuses_a_token_signed_with_another_key(
    client: TestClient, user: Account, db: Session
) -> None:
    token = reset_token_for(client, db, user)
    claims = unverified_claims(token)
    forged = jwt.encode(claims, "another-secret-key-" + "k" * 45, algorithm="HS256")
    assert confirm_reset(client, forged).status_code == 400
    assert confirm_reset(client, token).status_code == 204  # control


def test_reset_confirm_refuses_a_token_of_an_unknown_user(
    client: TestClient, user: Account, db: Session
) -> None:
    stored = db.get(User, user.id)
    assert stored is not None
    token = create_reset_token(
        settings_of(client), user_id=uuid.uuid4(), password_hash=stored.password_hash
    )
    assert confirm_reset(client, token).status_code == 400


@pytest.mark.parametrize(
    "new_password",
    ["short", "seven77", "\u20ac" * 24 + "a", "x" * 73],
    ids=["5-chars", "7-chars", "73-bytes-euro", "73-bytes"],
)
def test_reset_confirm_refuses_an_invalid_new_password(
    client: TestClient, user: Account, db: Session, new_password: str
) -> None:
    token = reset_token_for(client, db, user)
    response = confirm_reset(client, token, new_password)
    assert response.status_code == 422, response.text
    assert login_status(client, user.email, PASSWORD) == 200
    assert me_status(client, user.access_token) == 200
    # the refused attempt did not spend the token
    assert confirm_reset(client, token).status_code == 204


def test_reset_token_dies_when_the_password_changes(
    client: TestClient, user: Account, db: Session
) -> None:
    first = reset_token_for(client, db, user)
    second = reset_token_for(client, db, user)
    assert confirm_reset(client, first).status_code == 204
    # a second token issued for the old password is spent too
    assert confirm_reset(client, second, "yet another password").status_code == 400
    assert login_status(client, user.email, NEW_PASSWORD) == 200


def test_reset_token_dies_after_a_password_change_while_signed_in(
    client: TestClient, user: Account, db: Session
) -> None:
    token = reset_token_for(client, db, user)
    changed = change_password(
        client, user.access_token, {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )
    assert changed.status_code == 204
    assert confirm_reset(client, token, "yet another password").status_code == 400
    assert login_status(client, user.email, NEW_PASSWORD) == 200


def test_reset_token_of_a_deactivated_user_is_refused(
    client: TestClient, user: Account, admin: Account, db: Session
) -> None:
    token = reset_token_for(client, db, user)
    deactivated = client.patch(
        f"{API}/users/{user.id}", json={"isActive": False}, headers=admin.headers
    )
    assert deactivated.status_code == 200, deactivated.text
    assert confirm_reset(client, token).status_code == 400
