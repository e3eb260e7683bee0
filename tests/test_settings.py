"""Settings: defaults, the production secret check, the development key file, parsing.

Every test runs in its own empty working directory with no setting in the
environment (the autouse `_isolated_environment` fixture), so `.env` and
`.jwt-secret` are the test's own.
"""

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import Settings, describe_validation_error

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "k7Qz0vN3xW9pL2mR8tY5uB1cE6hJ4aSd"  # 32 characters, not a placeholder


def settings_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """The readable message of the ValidationError raised for environment `env`."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    return describe_validation_error(caught.value, upper=True)


# Defaults


def test_defaults_match_the_design() -> None:
    settings = Settings(_env_file=None)

    assert settings.environment == "development"
    assert settings.database_url == "sqlite:///./app.db"
    assert settings.is_sqlite
    assert settings.api_v1_prefix == "/api/v1"
    assert settings.jwt_algorithm == "HS256"
    assert settings.access_token_expire_minutes == 30
    assert settings.refresh_token_expire_days == 7
    assert settings.allow_registration is True
    assert settings.bcrypt_rounds == 12
    assert settings.login_max_failures_per_email == 5
    assert settings.login_max_failures_per_ip == 100
    assert settings.login_throttle_window_minutes == 15
    assert settings.cors_origins == []
    assert settings.debug is False
    assert settings.max_request_body_bytes == 1024 * 1024
    assert settings.first_admin_email is None
    assert settings.first_admin_password is None


# The production secret check


def test_production_without_a_key_stops_with_a_message_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = settings_error(monkeypatch, ENVIRONMENT="production")

    assert "JWT_SECRET_KEY" in message


def test_production_with_an_empty_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, ENVIRONMENT="production", JWT_SECRET_KEY="")

    assert "JWT_SECRET_KEY" in message


def test_production_with_a_31_character_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(monkeypatch, ENVIRONMENT="production", JWT_SECRET_KEY=STRONG_KEY[:31])

    assert "JWT_SECRET_KEY" in message
    assert "32" in message


@pytest.mark.parametrize(
    "placeholder",
    [
        "change-me",
        "changeme",
        "secret",
        # As long as a real key: refused for being the placeholder, not for its length.
        "change-me-to-a-long-random-string-of-at-least-32-characters",
        "CHANGE-ME-TO-A-LONG-RANDOM-STRING-OF-AT-LEAST-32-CHARACTERS",
    ],
)
def test_production_with_a_placeholder_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, placeholder: str
) -> None:
    message = settings_error(monkeypatch, ENVIRONMENT="production", JWT_SECRET_KEY=placeholder)

    assert "JWT_SECRET_KEY" in message


def test_production_with_a_strong_key_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET_KEY", STRONG_KEY)

    settings = Settings(_env_file=None)

    assert settings.environment == "production"
    assert settings.secret_key == STRONG_KEY
    assert not Path(".jwt-secret").exists()


def test_production_check_applies_to_constructor_arguments_too() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, environment="production", jwt_secret_key="short")

    assert "JWT_SECRET_KEY" in describe_validation_error(caught.value, upper=True)


# The development key file


def test_development_without_a_key_creates_a_private_key_file(tmp_path: Path) -> None:
    settings = Settings(_env_file=None)

    key_file = tmp_path / ".jwt-secret"
    assert settings.jwt_secret_key_file == Path(".jwt-secret")
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == settings.secret_key
    assert len(settings.secret_key) >= 32
    # Only the key file is left behind: no temporary file.
    assert sorted(path.name for path in tmp_path.iterdir()) == [".jwt-secret"]


def test_development_key_is_kept_across_restarts() -> None:
    first = Settings(_env_file=None)
    second = Settings(_env_file=None)

    assert second.secret_key == first.secret_key


def test_development_key_file_location_is_a_setting(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "jwt"
    key_file.parent.mkdir()

    settings = Settings(_env_file=None, jwt_secret_key_file=key_file)

    assert key_file.read_text().strip() == settings.secret_key
    assert not (tmp_path / ".jwt-secret").exists()


def test_development_reads_an_existing_key_file(tmp_path: Path) -> None:
    (tmp_path / ".jwt-secret").write_text(STRONG_KEY + "\n")

    assert Settings(_env_file=None).secret_key == STRONG_KEY


@pytest.mark.parametrize("content", ["", "\n  \n"], ids=["empty", "blank"])
def test_development_never_signs_with_an_empty_key(tmp_path: Path, content: str) -> None:
    # An empty key file (a `touch`, an interrupted copy) must not become an empty HMAC
    # key, with which anyone could forge tokens: a new key, or a clear refusal.
    (tmp_path / ".jwt-secret").write_text(content)

    refusal = ""
    key = ""
    try:
        key = Settings(_env_file=None).secret_key
    except ValidationError as error:
        refusal = describe_validation_error(error, upper=True)

    assert "JWT_SECRET_KEY" in refusal or len(key) >= 32, (refusal, key)


def test_the_development_key_file_is_git_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()

    assert str(Settings.model_fields["jwt_secret_key_file"].default) in ignored


def test_development_with_a_key_writes_no_file(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, jwt_secret_key=STRONG_KEY)

    assert settings.secret_key == STRONG_KEY
    assert not (tmp_path / ".jwt-secret").exists()


PRINT_KEY = """
import sys, time
from pathlib import Path
from app.core.config import Settings
Path(f"ready-{sys.argv[1]}").touch()
while not Path("go").exists():
    time.sleep(0.001)
print(Settings(_env_file=None).secret_key)
"""


@pytest.mark.slow
def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    count = 8
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PRINT_KEY, str(index)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(count)
    ]
    try:
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("ready-*"))) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        (tmp_path / "go").touch()  # release them all together
        outputs = [process.communicate(timeout=30) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert [process.returncode for process in processes] == [0] * count, outputs
    keys = {stdout.strip() for stdout, _ in outputs}
    assert len(keys) == 1, keys
    assert keys == {(tmp_path / ".jwt-secret").read_text().strip()}
    assert list(tmp_path.glob(".jwt-secret.*")) == []  # no temporary file left


def test_test_environment_without_a_key_gets_a_random_key_and_writes_no_file(
    tmp_path: Path,
) -> None:
    first = Settings(_env_file=None, environment="test")
    second = Settings(_env_file=None, environment="test")

    assert len(first.secret_key) >= 32
    assert first.secret_key != second.secret_key
    assert list(tmp_path.iterdir()) == []


# Parsing


def test_cors_origins_are_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")

    assert Settings(_env_file=None).cors_origins == ["https://a.example", "https://b.example"]


def test_cors_origins_as_a_constructor_string() -> None:
    settings = Settings(_env_file=None, cors_origins="https://a.example,,https://b.example ,")

    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_production_refuses_any_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    message = settings_error(
        monkeypatch, ENVIRONMENT="production", JWT_SECRET_KEY=STRONG_KEY, CORS_ORIGINS="*"
    )

    assert "CORS_ORIGINS=* is refused in production" in message


@pytest.mark.parametrize(
    "origin", ["https://app.example/", "app.example", "https://app.example/admin", "null"]
)
def test_an_origin_is_a_scheme_and_a_host(monkeypatch: pytest.MonkeyPatch, origin: str) -> None:
    message = settings_error(monkeypatch, CORS_ORIGINS=f"https://ok.example,{origin}")

    assert "CORS_ORIGINS" in message
    assert repr(origin) in message


def test_empty_cors_origins_is_no_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "")

    assert Settings(_env_file=None).cors_origins == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db.example:5432/app", "postgresql+psycopg2://u:p@db.example:5432/app"),
        ("postgresql://u:p@db.example/app", "postgresql+psycopg2://u:p@db.example/app"),
        ("postgresql+psycopg2://u@db.example/app", "postgresql+psycopg2://u@db.example/app"),
        ("sqlite:////data/app.db", "sqlite:////data/app.db"),
    ],
)
def test_database_url_uses_psycopg2_for_postgresql(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)

    settings = Settings(_env_file=None)

    assert settings.database_url == expected
    assert settings.is_sqlite == expected.startswith("sqlite")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BCRYPT_ROUNDS", "3"),
        ("BCRYPT_ROUNDS", "32"),
        ("BCRYPT_ROUNDS", "many"),
        ("LOG_LEVEL", "loud"),
        ("ENVIRONMENT", "staging"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
        ("JWT_ALGORITHM", "none"),
        ("ALLOW_REGISTRATION", "perhaps"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    message = settings_error(monkeypatch, **{variable: value})

    assert variable in message


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_REGISTRATION", "false")
    monkeypatch.setenv("BCRYPT_ROUNDS", "10")
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "5")
    monkeypatch.setenv("APP_NAME", "Env API")
    monkeypatch.setenv("ENVIRONMENT", "test")

    settings = Settings(_env_file=None)

    assert settings.allow_registration is False
    assert settings.bcrypt_rounds == 10
    assert settings.access_token_expire_minutes == 5
    assert settings.app_name == "Env API"
    assert settings.environment == "test"


def test_dotenv_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# a comment\n"
        "APP_NAME=From Dotenv\n"
        "ENVIRONMENT=test\n"
        "ALLOW_REGISTRATION=false\n"
        "CORS_ORIGINS=https://a.example,https://b.example\n"
    )

    settings = Settings()

    assert settings.app_name == "From Dotenv"
    assert settings.environment == "test"
    assert settings.allow_registration is False
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_environment_variables_win_over_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("APP_NAME=From Dotenv\nENVIRONMENT=test\n")
    monkeypatch.setenv("APP_NAME", "From Env")

    settings = Settings()

    assert settings.app_name == "From Env"
    assert settings.environment == "test"


def test_dotenv_is_ignored_when_disabled(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("APP_NAME=From Dotenv\nENVIRONMENT=test\n")

    settings = Settings(_env_file=None, environment="test")

    assert settings.app_name == "SQLModel API"
