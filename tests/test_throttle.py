"""Failed sign-in throttling: per email, per client IP, shared through the database."""

import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select, update

from app.models import LoginThrottle, User
from app.models.fields import utcnow
from app.services import throttle
from tests.helpers import API, Account, free_port, me_status, poll, start_server

WRONG = "wrong password"
EMAIL_LIMIT = 5


def attempt(client: TestClient, email: str, password: str, path: str = "login") -> Any:
    """One sign-in through `/auth/login` or the OAuth2 form of `/auth/token`."""
    if path == "login":
        return client.post(f"{API}/auth/login", json={"email": email, "password": password})
    return client.post(f"{API}/auth/token", data={"username": email, "password": password})


def fail(client: TestClient, email: str, times: int, path: str = "login") -> None:
    """`times` wrong passwords, each answered 401 (not yet throttled)."""
    for number in range(1, times + 1):
        response = attempt(client, email, WRONG, path)
        assert response.status_code == 401, f"failure {number}: {response.text}"


def retry_after(response: Any, window_seconds: int = 15 * 60) -> int:
    """The response's 429 `Retry-After`, checked to be whole seconds within the window."""
    assert response.status_code == 429, response.text
    assert isinstance(response.json()["detail"], str)
    value = response.headers.get("retry-after")
    assert value is not None
    assert value.isdigit(), value
    seconds = int(value)
    assert 0 < seconds <= window_seconds
    return seconds


def failures(db: Session, key: str) -> int | None:
    db.commit()  # a fresh snapshot
    value = db.exec(select(LoginThrottle.failures).where(LoginThrottle.key == key)).first()
    db.commit()
    return value


def end_the_window(db: Session) -> None:
    """Pretend every throttle window started 16 minutes ago (the default window is 15)."""
    db.exec(update(LoginThrottle).values(window_started_at=utcnow() - timedelta(minutes=16)))
    db.commit()


@pytest.mark.parametrize("path", ["login", "token"])
def test_sixth_attempt_after_five_failures_is_throttled(
    client: TestClient, user: Account, path: str
) -> None:
    fail(client, user.email, EMAIL_LIMIT, path)
    response = attempt(client, user.email, user.password, path)
    seconds = retry_after(response)
    assert seconds > 15 * 60 - 60  # the window has only just started
    assert "access" not in response.text
    # still throttled, with a wrong password too (429 is not 401 here)
    retry_after(attempt(client, user.email, WRONG, path))
    # /auth/login and /auth/token share the counter
    other = "token" if path == "login" else "login"
    retry_after(attempt(client, user.email, user.password, other))


def test_fifth_failure_is_still_a_401(client: TestClient, user: Account) -> None:
    fail(client, user.email, EMAIL_LIMIT - 1)
    response = attempt(client, user.email, WRONG)
    assert response.status_code == 401
    assert "retry-after" not in response.headers
    assert attempt(client, user.email, user.password).status_code == 429


def test_throttling_keeps_existing_sessions(client: TestClient, user: Account) -> None:
    fail(client, user.email, EMAIL_LIMIT)
    assert attempt(client, user.email, user.password).status_code == 429
    assert me_status(client, user.access_token) == 200


def test_throttle_is_per_email(client: TestClient, user: Account, other_user: Account) -> None:
    fail(client, user.email, EMAIL_LIMIT)
    assert attempt(client, user.email, user.password).status_code == 429
    assert attempt(client, other_user.email, other_user.password).status_code == 200


def test_email_throttle_ignores_case(client: TestClient, user: Account) -> None:
    for email in ("USER@example.com", "User@Example.com", "user@EXAMPLE.COM"):
        assert attempt(client, email, WRONG).status_code == 401
    fail(client, user.email, 2)
    retry_after(attempt(client, "uSeR@example.com", user.password))


def test_a_success_gives_back_its_attempt_and_failures_keep_counting(
    client: TestClient, user: Account, db: Session
) -> None:
    # At most EMAIL_LIMIT wrong passwords are checked per window, whatever succeeds
    # between them: a right password costs nothing, a wrong one stays counted.
    key = f"email:{user.email}"
    fail(client, user.email, EMAIL_LIMIT - 1)
    assert failures(db, key) == EMAIL_LIMIT - 1
    for _ in range(3):
        assert attempt(client, user.email, user.password).status_code == 200
    assert failures(db, key) == EMAIL_LIMIT - 1
    fail(client, user.email, 1)
    retry_after(attempt(client, user.email, user.password))
    assert failures(db, key) == EMAIL_LIMIT  # the refused attempt was not counted


def test_unknown_emails_count_as_failures(client: TestClient, db: Session) -> None:
    fail(client, "ghost@example.com", EMAIL_LIMIT)
    assert failures(db, "email:ghost@example.com") == EMAIL_LIMIT
    retry_after(attempt(client, "ghost@example.com", WRONG))


def test_inputs_refused_as_invalid_do_not_count(
    client: TestClient, user: Account, db: Session
) -> None:
    for _ in range(EMAIL_LIMIT + 1):
        invalid = client.post(f"{API}/auth/login", json={"email": user.email})
        assert invalid.status_code == 422
    assert failures(db, f"email:{user.email}") is None
    assert attempt(client, user.email, user.password).status_code == 200


def test_per_ip_limit_spans_emails(
    make_client: Callable[..., TestClient], user: Account, db: Session
) -> None:
    strict = make_client(login_max_failures_per_ip=3)
    for number in range(3):
        assert attempt(strict, f"someone{number}@example.com", WRONG).status_code == 401
    # a fresh email, and the right password of a real account: refused for the address
    seconds = retry_after(attempt(strict, user.email, user.password))
    assert seconds > 15 * 60 - 60
    retry_after(attempt(strict, "fresh@example.com", WRONG, "token"))
    ip_keys = [
        key
        for key in db.exec(select(LoginThrottle.key)).all()
        if key.startswith("ip:") and failures(db, key) == 3
    ]
    assert len(ip_keys) == 1


def test_a_success_does_not_reset_the_ip_counter(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    strict = make_client(login_max_failures_per_ip=3)
    for number in range(2):
        assert attempt(strict, f"someone{number}@example.com", WRONG).status_code == 401
    assert attempt(strict, user.email, user.password).status_code == 200
    assert attempt(strict, "someone2@example.com", WRONG).status_code == 401
    retry_after(attempt(strict, user.email, user.password))


def test_default_ip_limit_is_100(client: TestClient, user: Account, db: Session) -> None:
    for number in range(20):
        fail(client, f"spray{number}@example.com", 4)
    ip_key = next(key for key in db.exec(select(LoginThrottle.key)).all() if key.startswith("ip:"))
    db.commit()
    assert failures(db, ip_key) == 80
    fail(client, "spray-last@example.com", 4)
    assert attempt(client, user.email, user.password).status_code == 200  # 84 < 100
    for number in range(16):
        assert attempt(client, f"spray-more{number}@example.com", WRONG).status_code == 401
    assert failures(db, ip_key) == 100
    retry_after(attempt(client, user.email, user.password))


def test_logins_work_again_after_the_window(client: TestClient, user: Account, db: Session) -> None:
    fail(client, user.email, EMAIL_LIMIT)
    assert attempt(client, user.email, user.password).status_code == 429
    end_the_window(db)
    response = attempt(client, user.email, user.password)
    assert response.status_code == 200, response.text
    assert me_status(client, response.json()["accessToken"]) == 200


def test_a_new_window_starts_counting_from_one(
    client: TestClient, user: Account, db: Session
) -> None:
    key = f"email:{user.email}"
    fail(client, user.email, EMAIL_LIMIT)
    end_the_window(db)
    fail(client, user.email, 1)
    assert failures(db, key) == 1
    fail(client, user.email, EMAIL_LIMIT - 1)
    retry_after(attempt(client, user.email, user.password))


def test_a_short_window_gives_a_short_retry_after(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    quick = make_client(login_throttle_window_minutes=1, login_max_failures_per_email=2)
    fail(quick, user.email, 2)
    retry_after(attempt(quick, user.email, user.password), window_seconds=60)


def test_throttle_is_shared_by_instances_on_one_database(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    first, second = make_client(), make_client()
    assert first.app is not second.app
    fail(first, user.email, EMAIL_LIMIT)
    retry_after(attempt(second, user.email, user.password))
    retry_after(attempt(second, user.email, user.password, "token"))


def test_failures_on_two_instances_add_up(
    make_client: Callable[..., TestClient], user: Account
) -> None:
    first, second = make_client(), make_client()
    fail(first, user.email, 3)
    fail(second, user.email, 2)
    retry_after(attempt(first, user.email, user.password))


@pytest.mark.parametrize("path", ["login", "token"])
def test_throttled_answer_carries_retry_after_for_unknown_email(
    client: TestClient, path: str
) -> None:
    fail(client, "nobody@example.com", EMAIL_LIMIT, path)
    retry_after(attempt(client, "nobody@example.com", WRONG, path))


def test_concurrent_failures_are_all_counted(
    make_client: Callable[..., TestClient], user: Account, db: Session
) -> None:
    lenient = make_client(login_max_failures_per_email=100)
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: attempt(lenient, user.email, WRONG), range(8)))
    assert [response.status_code for response in responses] == [401] * 8
    assert failures(db, f"email:{user.email}") == 8


def test_throttled_inactive_user_gets_429_not_403(
    client: TestClient, inactive_user: Account
) -> None:
    assert attempt(client, inactive_user.email, inactive_user.password).status_code == 403
    fail(client, inactive_user.email, EMAIL_LIMIT)
    retry_after(attempt(client, inactive_user.email, inactive_user.password))


def test_no_throttle_rows_are_left_by_successful_logins(
    client: TestClient, user: Account, db: Session
) -> None:
    for _ in range(EMAIL_LIMIT + 2):
        assert attempt(client, user.email, user.password).status_code == 200
    db.commit()
    keys = db.exec(select(LoginThrottle.key).where(col(LoginThrottle.key).startswith("email:")))
    assert keys.all() == []


# Checks in flight: reservations that expire on their own


def checks_left_in_flight(db: Session, email: str, count: int, *, for_seconds: float) -> None:
    """What a server that died mid-check leaves: `count` checks of `email`'s budget
    still counted in flight, their reservation running `for_seconds` more."""
    now = utcnow()
    db.add(
        LoginThrottle(
            key=f"email:{email}",
            failures=0,
            in_flight=count,
            window_started_at=now,
            in_flight_until=now + timedelta(seconds=for_seconds),
        )
    )
    db.commit()


def test_checks_in_flight_hold_the_budget_and_the_answer_gives_the_true_wait(
    client: TestClient, user: Account, db: Session
) -> None:
    checks_left_in_flight(db, user.email, EMAIL_LIMIT, for_seconds=12)
    response = attempt(client, user.email, user.password)
    assert 11 <= retry_after(response) <= 12  # until they expire, not the window's end
    assert failures(db, f"email:{user.email}") == 0  # the refused attempt counted nothing


def test_a_crashed_servers_checks_stop_counting_when_they_expire(
    client: TestClient, user: Account, db: Session
) -> None:
    checks_left_in_flight(db, user.email, EMAIL_LIMIT, for_seconds=-1)
    response = attempt(client, user.email, user.password)
    assert response.status_code == 200, response.text
    fail(client, user.email, EMAIL_LIMIT)  # the whole budget is there again
    retry_after(attempt(client, user.email, user.password))


def test_checks_in_flight_leave_room_for_the_rest_of_the_budget(
    client: TestClient, user: Account, db: Session
) -> None:
    checks_left_in_flight(db, user.email, EMAIL_LIMIT - 1, for_seconds=60)
    assert attempt(client, user.email, WRONG).status_code == 401  # the last check's room
    retry_after(attempt(client, user.email, user.password))


@pytest.mark.slow  # real servers, one killed
def test_a_server_killed_mid_check_locks_no_account(
    user: Account, db: Session, database_url: str, tmp_path: Path
) -> None:
    slow_hash = bcrypt.hashpw(user.password.encode(), bcrypt.gensalt(15)).decode()
    db.exec(update(User).where(col(User.id) == user.id).values(password_hash=slow_hash))
    db.commit()  # seconds per check: the five are still running at the kill
    port, log = free_port(), tmp_path / "server.log"
    checks_at_once = str(EMAIL_LIMIT)
    server = start_server(
        port, log, database_url=database_url, PASSWORD_HASH_CONCURRENCY=checks_at_once
    )
    url = f"http://127.0.0.1:{port}{API}/auth/login"
    wrong = {"email": user.email, "password": WRONG}
    with ThreadPoolExecutor(EMAIL_LIMIT) as pool:
        for _ in range(EMAIL_LIMIT):
            pool.submit(httpx.post, url, json=wrong, timeout=120)
        assert poll(lambda: in_flight(db, f"email:{user.email}") == EMAIL_LIMIT)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=60)
    assert in_flight(db, f"email:{user.email}") == EMAIL_LIMIT  # left behind by the crash

    server = start_server(port, log, database_url=database_url)
    try:
        crashed_at = time.monotonic()
        right = {"email": user.email, "password": user.password}
        answer = httpx.post(url, json=right, timeout=120)
        if answer.status_code == 429:  # the reservations have not expired yet
            wait = int(answer.headers["retry-after"])
            assert wait <= throttle.RESERVATION_SECONDS  # the true wait, not the window
            time.sleep(wait)
            answer = httpx.post(url, json=right, timeout=120)
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - crashed_at < 120
    finally:
        server.terminate()
        server.wait(timeout=120)


def in_flight(db: Session, key: str) -> int:
    db.commit()  # a fresh snapshot
    value = db.exec(select(LoginThrottle.in_flight).where(LoginThrottle.key == key)).first()
    db.commit()
    return value or 0
