"""The refresh grace window: tabs that refresh with one token at once all stay signed in.

The token spent by a session's last rotation, presented again within
REFRESH_GRACE_SECONDS, gets that rotation's refresh token again; an older token, a later
replay, a revoked session or an inactive account get 401 as before, and reuse
detection still revokes.
"""

import functools
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, update

from app.models import AuthSession, User
from app.models.fields import utcnow
from app.services import rotation
from tests.helpers import (
    Account,
    assert_unauthorized,
    at_once,
    login,
    me_status,
    refresh,
    session_id,
    stored,
)


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """From now on, the refresh rotation's clock reads `seconds` later than the real one."""
    monkeypatch.setattr(rotation, "utcnow", lambda: utcnow() + timedelta(seconds=seconds))


def revoked(db: Session, account: Account) -> bool:
    row = stored(db, AuthSession, session_id(account.refresh_token))
    assert row is not None
    return row.revoked_at is not None


def test_a_token_presented_again_at_once_gets_the_same_successor(
    client: TestClient, user: Account, db: Session
) -> None:
    first = refresh(client, user.refresh_token)
    again = refresh(client, user.refresh_token)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["refreshToken"] == first.json()["refreshToken"]
    assert again.json()["expiresIn"] == first.json()["expiresIn"]
    assert session_id(again.json()["accessToken"]) == session_id(user.access_token)
    for pair in (first.json(), again.json()):
        assert me_status(client, pair["accessToken"]) == 200
    assert not revoked(db, user)
    # The successor works once, like any refresh token.
    assert refresh(client, first.json()["refreshToken"]).status_code == 200


def test_after_the_window_a_replay_revokes_the_session(
    client: TestClient, user: Account, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    successor = refresh(client, user.refresh_token).json()
    later(monkeypatch, 11)  # the default window is 10 s
    assert_unauthorized(refresh(client, user.refresh_token))
    assert revoked(db, user)
    assert refresh(client, successor["refreshToken"]).status_code == 401
    assert me_status(client, successor["accessToken"]) == 401


def test_the_window_is_a_setting(
    make_client: Callable[..., TestClient],
    user: Account,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = make_client(refresh_grace_seconds=60)
    refresh(client, user.refresh_token)
    later(monkeypatch, 59)
    assert refresh(client, user.refresh_token).status_code == 200
    later(monkeypatch, 61)
    assert refresh(client, user.refresh_token).status_code == 401
    assert revoked(db, user)


def test_only_the_token_of_the_last_rotation_is_forgiven(
    client: TestClient, user: Account, db: Session
) -> None:
    second = refresh(client, user.refresh_token).json()
    third = refresh(client, second["refreshToken"]).json()
    assert third["refreshToken"] != second["refreshToken"]
    assert_unauthorized(refresh(client, user.refresh_token))  # two rotations old
    assert revoked(db, user)
    assert me_status(client, third["accessToken"]) == 401


def test_a_zero_window_revokes_at_once(
    make_client: Callable[..., TestClient], user: Account, db: Session
) -> None:
    client = make_client(refresh_grace_seconds=0)
    refresh(client, user.refresh_token)
    assert_unauthorized(refresh(client, user.refresh_token))
    assert revoked(db, user)


def test_a_closed_session_or_account_gets_nothing(
    client: TestClient, make_account: Callable[..., Account], db: Session
) -> None:
    signed_out = make_account()
    refresh(client, signed_out.refresh_token)
    assert client.post("/api/v1/auth/logout", headers=signed_out.headers).status_code == 204
    assert refresh(client, signed_out.refresh_token).status_code == 401

    deactivated = make_account()
    refresh(client, deactivated.refresh_token)
    db.exec(update(User).where(col(User.id) == deactivated.id).values(is_active=False))
    db.commit()
    assert refresh(client, deactivated.refresh_token).status_code == 401


def test_each_session_keeps_its_own_successor(client: TestClient, user: Account) -> None:
    first = refresh(client, user.refresh_token).json()
    second = login(client, user.email)
    assert refresh(client, second["refreshToken"]).status_code == 200
    again = refresh(client, user.refresh_token)
    assert again.status_code == 200
    assert again.json()["refreshToken"] == first["refreshToken"]


@pytest.mark.slow  # 20 races on real threads
def test_tabs_refreshing_at_the_same_instant_all_stay_signed_in(
    client: TestClient, make_account: Callable[..., Account], db: Session
) -> None:
    for _ in range(20):
        account = make_account()
        answers = at_once([functools.partial(refresh, client, account.refresh_token)] * 2)
        assert [answer.status_code for answer in answers] == [200, 200], answers[1].text
        tokens = {answer.json()["refreshToken"] for answer in answers}
        assert len(tokens) == 1  # both tabs hold the same live token
        assert not revoked(db, account)
        for answer in answers:
            assert me_status(client, answer.json()["accessToken"]) == 200
        assert refresh(client, tokens.pop()).status_code == 200
