"""The password-reset mail: sent through a real SMTP server on loopback (plain, and
STARTTLS with AUTH), failures that do not break the request, and what each environment
does without SMTP."""

import logging
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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

from app.core.config import Settings
from app.services.mail import Mail, send
from tests.helpers import (
    NEW_PASSWORD,
    PASSWORD,
    TEST_SECRET,
    Account,
    confirm_reset,
    free_port,
    login,
    login_status,
    me_status,
    refresh_status,
    request_reset,
)

pytestmark = pytest.mark.slow  # starts SMTP servers

FRONTEND = "https://app.example"
SMTP_USER = "mailer"
SMTP_PASSWORD = "mailer-secret"


# Through a real SMTP server on loopback


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


MAIL_LOGGER = "app.services.mail"


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


def test_reset_mails_are_limited_per_address(
    mail_client: TestClient, mailbox: Mailbox, user: Account
) -> None:
    answers = [request_reset(mail_client, user.email) for _ in range(30)]
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.content for answer in answers}) == 1  # nothing tells them apart
    assert len(mailbox.wait_for(3)) == 3
    assert len(mailbox.wait_for(4, timeout=0.5)) == 3


def test_reset_mails_are_limited_per_client_address(
    make_client: Callable[..., TestClient],
    smtp_port: int,
    mailbox: Mailbox,
    make_account: Callable[..., Account],
) -> None:
    client = make_client(
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_starttls=False,
        password_reset_max_per_ip=4,
    )
    accounts = [make_account() for _ in range(6)]
    answers = [request_reset(client, account.email) for account in accounts]
    assert {answer.status_code for answer in answers} == {202}
    assert len(mailbox.wait_for(4)) == 4
    assert len(mailbox.wait_for(5, timeout=0.5)) == 4


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
    caplog.set_level(logging.WARNING, logger="app.services.mail")
    refused = make_client(
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False, smtp_timeout=2
    )
    response = request_reset(refused, user.email)
    assert response.status_code == 202, response.text
    errors = [r for r in caplog.records if r.name == MAIL_LOGGER and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    # the service goes on answering
    assert request_reset(refused, user.email).status_code == 202
    assert login_status(refused, user.email, PASSWORD) == 200


# STARTTLS and AUTH


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


@pytest.fixture
def starttls_client(
    make_client: Callable[..., TestClient], tls_smtp_port: int
) -> Callable[[], TestClient]:
    """Start an app that mails over STARTTLS as SMTP_USER; call it once the environment
    names the certificates to trust."""
    return lambda: make_client(
        smtp_host="127.0.0.1",
        smtp_port=tls_smtp_port,
        smtp_starttls=True,
        smtp_user=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
        frontend_url=FRONTEND,
    )


def test_reset_mail_over_starttls_with_auth(
    starttls_client: Callable[[], TestClient],
    mailbox: Mailbox,
    certificate: tuple[Path, Path],
    user: Account,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="app.services.mail")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    secure = starttls_client()
    assert request_reset(secure, user.email).status_code == 202
    (message,) = mailbox.wait_for(1)
    assert [r.getMessage() for r in caplog.records if r.name == "app.services.mail"] == []
    assert mailbox.logins == [SMTP_USER]
    assert message["To"] == user.email
    token = token_from_link(body_of(message))
    assert confirm_reset(secure, token).status_code == 204
    assert login_status(secure, user.email, NEW_PASSWORD) == 200


def test_starttls_refuses_an_untrusted_certificate(
    starttls_client: Callable[[], TestClient],
    mailbox: Mailbox,
    user: Account,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="app.services.mail")
    empty_store = tmp_path / "empty.pem"
    empty_store.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty_store))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    secure = starttls_client()
    assert request_reset(secure, user.email).status_code == 202
    time.sleep(0.05)
    assert mailbox.messages == []
    assert mailbox.logins == []  # the password was never sent over an unverified channel
    errors = [r for r in caplog.records if r.name == MAIL_LOGGER and r.levelno >= logging.ERROR]
    assert len(errors) == 1


# Without SMTP, by environment


def test_reset_link_is_logged_in_test_without_smtp(
    client: TestClient, user: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.services.mail")
    assert request_reset(client, "nobody@example.com").status_code == 202
    assert [r for r in caplog.records if r.name == "app.services.mail"] == []
    assert request_reset(client, "USER@example.com").status_code == 202
    records = [r for r in caplog.records if r.name == "app.services.mail"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert user.email in message
    token = token_from_link(message, "http://localhost:8000/account")
    assert confirm_reset(client, token).status_code == 204
    assert login_status(client, user.email, NEW_PASSWORD) == 200


def test_without_smtp_development_logs_the_link(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="app.services.mail")
    settings = Settings(
        _env_file=None,
        environment="development",
        jwt_secret_key=TEST_SECRET,
        frontend_url=FRONTEND,
    )
    send(settings, Mail("reset", "someone@example.com", "the-token"))
    records = [r for r in caplog.records if r.name == "app.services.mail"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert "someone@example.com" in message
    assert f"{FRONTEND}/reset-password?token=the-token" in message


def test_without_smtp_production_does_not_log_the_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.services.mail")
    settings = Settings(
        _env_file=None,
        environment="production",
        jwt_secret_key="p" * 40,
        frontend_url=FRONTEND,
    )
    send(settings, Mail("reset", "someone@example.com", "the-token"))
    records = [r for r in caplog.records if r.name == "app.services.mail"]
    assert records, "production must say that the mail was not sent"
    assert any(r.levelno >= logging.ERROR and "SMTP" in r.getMessage() for r in records)
    for record in records:
        assert "the-token" not in record.getMessage()
        assert "reset-password" not in record.getMessage()
    assert "the-token" not in caplog.text
