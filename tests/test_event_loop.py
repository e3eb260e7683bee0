"""Nothing blocks the event loop: database work, bcrypt and mail all run on threads.

The app's event loop runs in asyncio's debug mode, which logs every step that holds
the loop for longer than `slow_callback_duration`. The SMTP server here takes
`SMTP_DELAY` seconds to accept a message, so a mail sent from the event loop (rather
than from a thread, after the response) would hold it that long, and show.
"""

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.state import app_state
from app.main import create_app
from app.services import live
from app.services.live_hub import Hub
from tests.admin.pages import BackOffice
from tests.attachment_support import PNG
from tests.helpers import API, ME, PASSWORD, Account, bearer, free_port, login

pytestmark = pytest.mark.slow  # starts an SMTP server and a debug-mode event loop

SMTP_DELAY = 1.0
HELD_TOO_LONG = 0.5  # seconds a step may hold the loop: far below SMTP_DELAY


class SlowMailbox:
    """An SMTP server's handler that takes SMTP_DELAY to accept each message."""

    def __init__(self) -> None:
        self.received: list[str] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(SMTP_DELAY)
        self.received.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 30) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received


class LoopWatch(logging.Handler):
    """Collects asyncio's reports of steps that held the loop too long."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing"):
            self.reports.append(message)


@pytest.fixture
def mailbox() -> Iterator[tuple[SlowMailbox, int]]:
    handler, port = SlowMailbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def watched(
    make_settings: Callable[..., Settings], mailbox: tuple[SlowMailbox, int]
) -> Iterator[tuple[TestClient, LoopWatch]]:
    """A client of an app whose event loop runs in debug mode, mailing through the
    slow SMTP server; and what asyncio reported of it."""
    settings = make_settings(
        smtp_host="127.0.0.1",
        smtp_port=mailbox[1],
        smtp_starttls=False,
        require_email_verification=True,
    )
    watch = LoopWatch()
    logger = logging.getLogger("asyncio")
    logger.addHandler(watch)
    with TestClient(create_app(settings), backend_options={"debug": True}) as client:
        assert client.portal is not None  # the app's loop runs while the client is open
        loop = client.portal.call(asyncio.get_running_loop)
        loop.slow_callback_duration = HELD_TOO_LONG
        yield client, watch
    logger.removeHandler(watch)


def test_a_slow_step_on_the_loop_is_reported(watched: tuple[TestClient, LoopWatch]) -> None:
    # The watch itself: a route that blocks the loop (as a mail sent from it would).
    client, watch = watched

    @client.app.get("/blocking")  # type: ignore[attr-defined,untyped-decorator]
    async def blocking() -> None:
        time.sleep(HELD_TOO_LONG * 2)  # noqa: ASYNC251 - the point of this test

    client.get("/blocking")
    assert watch.reports, "asyncio's debug mode did not report a blocked loop"


def test_the_api_mails_and_hashes_off_the_loop(
    watched: tuple[TestClient, LoopWatch],
    mailbox: tuple[SlowMailbox, int],
    user: Account,
) -> None:
    client, watch = watched
    body = {"email": "new@example.com", "password": PASSWORD}
    assert client.post(f"{API}/auth/register", json=body).status_code == 201
    token = login(client, user.email)["accessToken"]
    change = {"email": "moved@example.com", "currentPassword": PASSWORD}
    assert client.patch(ME, json=change, headers=bearer(token)).status_code == 200
    reset = client.post(f"{API}/auth/password-reset", json={"email": "moved@example.com"})
    assert reset.status_code == 202
    created = client.post(f"{API}/items", json={"title": "t"}, headers=bearer(token))
    assert created.status_code == 201
    assert client.get(f"{API}/items", headers=bearer(token)).status_code == 200
    assert sorted(mailbox[0].wait_for(3)) == ["moved@example.com"] * 2 + ["new@example.com"]
    assert watch.reports == []


def test_the_back_office_mails_off_the_loop(
    watched: tuple[TestClient, LoopWatch],
    mailbox: tuple[SlowMailbox, int],
    admin: Account,
    user: Account,
) -> None:
    client, watch = watched
    back_office = BackOffice(client).signed_in(admin.email)
    form = {"email": "renamed@example.com", "name": "", "role": "USER", "is_active": "y"}
    response = back_office.submit(f"/user/edit/{user.id}", form)
    assert response.status_code == 302, response.text
    assert mailbox[0].wait_for(1) == ["renamed@example.com"]
    assert watch.reports == []


def test_live_updates_read_off_the_loop(
    watched: tuple[TestClient, LoopWatch], user: Account
) -> None:
    # The app's live updates on its debug-mode loop: reading the change log and the
    # rows, never on the loop itself.
    client, watch = watched
    hub: Hub = client.app.state.live_hub  # type: ignore[attr-defined]
    assert client.portal is not None
    viewer = live.Viewer(user.id, all_items=False, users=False)
    stream = client.portal.call(functools.partial(hub.open, viewer, after=None))
    created = client.post(f"{API}/items", json={"title": "t"}, headers=user.headers).json()
    event = client.portal.call(stream.next, 60)
    client.portal.call(hub.close, stream)
    assert isinstance(event, live.Event)
    assert created["id"] in event.data
    assert watch.reports == []


def test_files_are_stored_read_and_removed_off_the_loop(
    watched: tuple[TestClient, LoopWatch], user: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every storage call made slow (as a distant S3 store is): on the loop, it would show.
    client, watch = watched
    storage = app_state(client.app).database.storage
    for name in ("save", "open", "delete"):
        call = getattr(storage, name)
        monkeypatch.setattr(storage, name, functools.partial(_slowly, call))
    token = bearer(login(client, user.email)["accessToken"])
    item = client.post(f"{API}/items", json={"title": "t"}, headers=token).json()["id"]
    form = {"file": ("a.png", PNG, "image/png")}
    uploaded = client.post(f"{API}/items/{item}/files", files=form, headers=token)
    assert uploaded.status_code == 201, uploaded.text
    content = f"{API}/items/{item}/files/{uploaded.json()['id']}/content"
    assert client.get(content, headers=token).content == PNG
    assert client.delete(f"{API}/items/{item}", headers=token).status_code == 204
    assert watch.reports == []


def _slowly(call: Callable[..., Any], *args: Any) -> Any:
    time.sleep(HELD_TOO_LONG * 2)
    return call(*args)
