"""The command line: migrate, create-admin, cleanup, serve (in-process and for real)."""

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, inspect, make_url
from sqlmodel import Session, select

from app import __main__ as cli
from app.core.config import get_settings
from app.core.db import create_db_engine
from app.core.migrations import PROJECT_ROOT
from app.models import AuditEvent, AuthSession, LoginThrottle, Role, TotpFactor, User
from app.models.fields import utcnow
from tests.helpers import TEST_SECRET, free_port

ADMIN_PASSWORD = "admin password 1"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Environment for `python -m app` on a fresh SQLite file; returns its URL."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("JWT_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("BCRYPT_ROUNDS", "4")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def users(url: str) -> dict[str, User]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return {user.email: user for user in session.exec(select(User)).all()}
    finally:
        engine.dispose()


def test_migrate_creates_the_schema_and_the_first_admin(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRST_ADMIN_EMAIL", "Boss@Example.com")
    monkeypatch.setenv("FIRST_ADMIN_PASSWORD", ADMIN_PASSWORD)
    assert cli.main(["migrate"]) == 0
    admin = users(cli_env)["boss@example.com"]
    assert admin.role == Role.ADMIN
    assert admin.is_active
    assert cli.main(["migrate"]) == 0  # idempotent: nothing to create the second time
    assert list(users(cli_env)) == ["boss@example.com"]


def test_migrate_without_first_admin_creates_no_user(cli_env: str) -> None:
    assert cli.main(["migrate"]) == 0
    engine = create_engine(cli_env)
    assert "users" in inspect(engine).get_table_names()
    engine.dispose()
    assert users(cli_env) == {}


def test_create_admin_from_flags_then_promote(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["migrate"])
    args = ["create-admin", "--email", "root@example.com", "--password", ADMIN_PASSWORD]
    assert cli.main(args) == 0
    printed = capsys.readouterr()
    assert "created" in printed.out
    assert "audit" not in printed.err  # the event is in the database, not on the console
    assert users(cli_env)["root@example.com"].role == Role.ADMIN
    assert logging.getLogger("app.services.audit").level == logging.NOTSET  # as it was

    engine = create_db_engine(get_settings())
    with Session(engine) as session:
        session.add(User(email="plain@example.com", password_hash="x", is_active=False))
        session.commit()
    engine.dispose()
    assert cli.main(["create-admin", "--email", "plain@example.com"]) == 0
    assert "promoted" in capsys.readouterr().out
    promoted = users(cli_env)["plain@example.com"]
    assert promoted.role == Role.ADMIN
    assert promoted.is_active
    assert cli.main(["create-admin", "--email", "plain@example.com"]) == 0
    assert "already" in capsys.readouterr().out


def test_reset_two_factor_turns_it_off(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["migrate"])
    cli.main(["create-admin", "--email", "root@example.com", "--password", ADMIN_PASSWORD])
    root = users(cli_env)["root@example.com"]
    engine = create_db_engine(get_settings())
    with Session(engine) as session:
        session.add(TotpFactor(user_id=root.id, secret_encrypted="x", confirmed_at=utcnow()))
        session.commit()
    capsys.readouterr()
    assert cli.main(["reset-two-factor", "--email", "Root@Example.com"]) == 0
    assert "off for root@example.com" in capsys.readouterr().out
    with Session(engine) as session:
        assert session.get(TotpFactor, root.id) is None
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "two_factor.disabled"))
        assert event.actor_kind == "system"
    engine.dispose()
    assert cli.main(["reset-two-factor", "--email", "root@example.com"]) == 1
    assert "Two-factor authentication is off" in capsys.readouterr().err
    assert cli.main(["reset-two-factor", "--email", "nobody@example.com"]) == 1
    assert "User not found" in capsys.readouterr().err


def test_create_admin_prompts_for_what_is_missing(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.main(["migrate"])
    monkeypatch.setattr("builtins.input", lambda _prompt: "asked@example.com")
    answers = iter([ADMIN_PASSWORD, ADMIN_PASSWORD])
    monkeypatch.setattr("app.__main__.getpass.getpass", lambda _prompt: next(answers))
    assert cli.main(["create-admin"]) == 0
    assert users(cli_env)["asked@example.com"].role == Role.ADMIN


def test_create_admin_refuses_bad_input(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["migrate"])
    assert cli.main(["create-admin", "--email", "a@example.com", "--password", "short"]) == 1
    assert "password" in capsys.readouterr().err
    answers = iter([ADMIN_PASSWORD, "something else"])
    monkeypatch.setattr("app.__main__.getpass.getpass", lambda _prompt: next(answers))
    assert cli.main(["create-admin", "--email", "b@example.com"]) == 1
    assert "differ" in capsys.readouterr().err
    assert cli.main(["create-admin", "--email", "not-an-email", "--password", ADMIN_PASSWORD]) == 1
    assert users(cli_env) == {}


def test_cleanup_deletes_dead_sessions_and_stale_counters(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["migrate"])
    now = utcnow()
    engine = create_db_engine(get_settings())
    with Session(engine) as session:
        user = User(email="u@example.com", password_hash="x")
        session.add(user)
        session.flush()
        for expires, revoked in ((now + timedelta(days=1), None), (now - timedelta(days=1), None)):
            session.add(
                AuthSession(
                    user_id=user.id, refresh_token_hash="h", expires_at=expires, revoked_at=revoked
                )
            )
        session.add(
            AuthSession(
                user_id=user.id,
                refresh_token_hash="h",
                expires_at=now + timedelta(days=1),
                revoked_at=now,
            )
        )
        session.add(
            LoginThrottle(key="ip:1", failures=3, window_started_at=now, in_flight_until=now)
        )
        session.add(
            LoginThrottle(
                key="ip:2",
                failures=3,
                window_started_at=now - timedelta(hours=1),
                in_flight_until=now,
            )
        )
        session.commit()
    assert cli.main(["cleanup"]) == 0
    assert "deleted 2 expired or revoked sessions, 1 stale throttle counters" in (
        capsys.readouterr().out
    )
    with Session(engine) as session:
        assert len(session.exec(select(AuthSession)).all()) == 1
        assert [row.key for row in session.exec(select(LoginThrottle)).all()] == ["ip:1"]
    engine.dispose()


def test_serve_migrates_then_starts_uvicorn(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run(app: str, **kwargs: Any) -> None:
        engine = create_engine(cli_env)
        kwargs["tables"] = set(inspect(engine).get_table_names())
        engine.dispose()
        calls.append({"app": app, **kwargs})

    monkeypatch.setattr("app.__main__.uvicorn.run", fake_run)
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1")
    get_settings.cache_clear()
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "9000"]) == 0
    [call] = calls
    assert call["app"] == "app.main:create_app"
    assert call["factory"] is True
    assert call["host"] == "0.0.0.0"
    assert call["port"] == 9000
    assert call["workers"] == 3
    assert call["proxy_headers"] is False  # the app reads X-Forwarded-* itself
    assert "users" in call["tables"]  # migrations ran before the server started
    said = capsys.readouterr().err
    assert "API docs: http://localhost:9000/api/v1/docs" in said
    assert "Back office: http://localhost:9000/admin (an admin account: " in said
    assert "reset and verification links are logged here" in said


@pytest.mark.parametrize(
    ("overrides", "host", "lines"),
    [
        (
            {"admin_ui": False, "api_v1_prefix": "/v2"},
            "::1",
            ["API docs: http://[::1]:8000/v2/docs", "Mail: SMTP_HOST is not set, so reset and "],
        ),
        (
            {"smtp_host": "mail.example", "smtp_port": 2525, "metrics_enabled": True},
            "127.0.0.1",
            [
                "API docs: http://127.0.0.1:8000/api/v1/docs",
                "Back office: http://127.0.0.1:8000/admin",
                "Metrics: http://127.0.0.1:8000/metrics",
                "Mail: sent through mail.example:2525, links to http://localhost:8000/account",
            ],
        ),
        (
            {"environment": "production", "jwt_secret_key": "k" * 40},
            "0.0.0.0",
            [
                "API docs: http://localhost:8000/api/v1/docs",
                "Back office: http://localhost:8000/admin",
                "Mail: SMTP_HOST is not set, so reset and verification mails are not sent",
            ],
        ),
    ],
)
def test_serve_says_where_to_look(overrides: dict[str, Any], host: str, lines: list[str]) -> None:
    from app.core.config import Settings

    settings = Settings(_env_file=None, **{"environment": "test", **overrides})
    said = cli.where_to_look(settings, host, 8000)
    assert len(said) == len(lines)
    assert all(line.startswith(start) for line, start in zip(said, lines, strict=True)), said


def test_default_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.config import Settings

    assert cli.default_workers(Settings(_env_file=None, environment="test")) == 1
    production = Settings(_env_file=None, environment="production", jwt_secret_key="k" * 40)
    assert cli.default_workers(production) == len(os.sched_getaffinity(0))
    assert cli.default_workers(production.model_copy(update={"web_concurrency": 5})) == 5


def test_configuration_errors_are_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    get_settings.cache_clear()
    try:
        assert cli.main(["migrate"]) == 2
    finally:
        get_settings.cache_clear()
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "JWT_SECRET_KEY" in error
    assert "Traceback" not in error


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["cleanup"],
        ["create-admin", "--email", "a@b.example", "--password", ADMIN_PASSWORD],
        ["serve"],
    ],
)
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:1/app", "nothing answers at 127.0.0.1:1"),
        ("postgresql://postgres@host.invalid/app", "unknown host 'host.invalid'"),
        ("sqlite:////nonexistent-directory/app.db", "cannot open the SQLite database"),
    ],
)
def test_an_unusable_database_is_one_clear_line(
    cli_env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    url: str,
    expected: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    assert cli.main(command) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"Database error: {expected}"), error
    assert error.count("\n") == 0
    assert "Traceback" not in error


def test_a_missing_postgresql_database_says_to_create_it(
    cli_env: str,
    postgres_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = make_url(postgres_server).set(database="no_such_database")
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    assert cli.main(["migrate"]) == 1
    error = capsys.readouterr().err.strip()
    assert 'database "no_such_database" does not exist on' in error
    assert "create it first (createdb " in error
    assert error.count("\n") == 0


@pytest.mark.slow
def test_real_serve_migrates_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "production",
        "JWT_SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "BCRYPT_ROUNDS": "4",
        "WEB_CONCURRENCY": "2",
        "FIRST_ADMIN_EMAIL": "first@example.com",
        "FIRST_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # two workers starting on a busy machine
        while True:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "server did not answer /health"
            time.sleep(0.2)
        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"email": "first@example.com", "password": ADMIN_PASSWORD},
        )
        assert login.status_code == 200
        me = httpx.get(
            f"{base}/api/v1/users/me",
            headers={"Authorization": f"Bearer {login.json()['accessToken']}"},
        )
        assert me.json()["role"] == "ADMIN"
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 0, output
    assert "Started parent process" in output or "Application startup complete" in output


@pytest.mark.slow
def test_real_start_without_secret_fails_fast(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET_KEY"}
    env.update(ENVIRONMENT="production", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Configuration error: JWT_SECRET_KEY must be set in production"
    )
    assert not (tmp_path / "x.db").exists()
