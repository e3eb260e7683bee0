"""Fixtures of the back-office tests: a browser per test, signed in as the admin or not;
the mails the app sends."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.services import mail
from app.services.mail import Mail
from tests.admin.pages import BackOffice
from tests.helpers import Account


@pytest.fixture
def browser(client: TestClient) -> Iterator[BackOffice]:
    """A browser with no cookie yet (the shared client's jar is emptied around the test)."""
    client.cookies.clear()
    yield BackOffice(client)
    client.cookies.clear()


@pytest.fixture
def back_office(browser: BackOffice, admin: Account) -> BackOffice:
    """The browser, signed in to the back office as `admin`."""
    return browser.signed_in(admin.email)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> list[Mail]:
    """The mails the app sends (kept here instead of sent)."""
    sent: list[Mail] = []
    monkeypatch.setattr(mail, "send", lambda _settings, message: sent.append(message))
    return sent
