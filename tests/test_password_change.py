"""Changing one's own password while signed in (`PATCH /users/me/password`)."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import (
    API,
    NEW_PASSWORD,
    PASSWORD,
    Account,
    assert_unauthorized,
    change_password,
    login,
    login_status,
    me_status,
    refresh_status,
)


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


def test_wrong_current_passwords_count_as_failed_sign_ins(
    client: TestClient, user: Account
) -> None:
    guess = {"currentPassword": "a guess", "newPassword": NEW_PASSWORD}
    statuses = [change_password(client, user.access_token, guess).status_code for _ in range(30)]
    assert statuses == [400] * 5 + [429] * 25
    right = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    throttled = change_password(client, user.access_token, right)
    assert throttled.status_code == 429, throttled.text
    assert int(throttled.headers["retry-after"]) > 0
    assert login_status(client, user.email, PASSWORD) == 429  # the account's own budget


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
