"""Settings, read from the environment and `.env` (see `.env.example`)."""

import ipaddress
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import EmailStr, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.cookie_settings import CookieSettings
from app.core.live_settings import LiveSettings
from app.core.provider_settings import ProviderSettings
from app.core.secret_keys import check_key, read_or_create_secret
from app.core.storage_settings import StorageSettings

SQLITE_WRITE_THREADS = 2
# `make bench` (d'), sign-ins during a flood of reads: 0.27 x the login ceiling with
# one thread per hash at once, 0.31 with two (medians of 3 runs, 2026-12-07).
HASH_THREADS_PER_SLOT = 2
MAX_PREVIOUS_KEYS = 3

Environment = Literal["development", "test", "production"]
ORIGIN = re.compile(r"https?://[^/?#\s]+")  # a scheme and a host, with no path
# Where frontends run while they are developed (Next.js/CRA, Vite), allowed by CORS in
# development when CORS_ORIGINS is not set.
LOCAL_FRONTEND_ORIGINS = [
    f"http://{host}:{port}" for host in ("localhost", "127.0.0.1") for port in (3000, 5173)
]


class Settings(ProviderSettings, CookieSettings, LiveSettings, StorageSettings, BaseSettings):
    """Every setting of the service; field `x_y` is read from the variable `X_Y`
    (those of sign-in providers are in `ProviderSettings`, the sign-in cookies' in
    `CookieSettings`, live updates' in `LiveSettings`, attachments' in `StorageSettings`)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )

    app_name: str = "SQLModel API"
    app_version: str = "0.1.0"
    environment: Environment = "development"
    debug: bool = False
    api_v1_prefix: str = "/api/v1"
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    database_url: str = "sqlite:///./app.db"
    database_pool_size: int = Field(4, ge=1)
    database_pool_timeout: float = Field(30, gt=0)
    database_pool_pre_ping: bool = True
    database_read_threads: int = Field(1, ge=1)

    jwt_secret_key: SecretStr | None = None
    jwt_previous_secret_keys: Annotated[list[SecretStr], NoDecode] = []
    jwt_secret_key_file: Path = Path(".jwt-secret")
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_expire_minutes: int = Field(30, ge=1)
    refresh_token_expire_days: int = Field(7, ge=1)
    refresh_grace_seconds: int = Field(10, ge=0, le=300)
    password_reset_expire_minutes: int = Field(60, ge=1)

    cors_origins: Annotated[list[str], NoDecode] = []
    allow_registration: bool = True
    require_email_verification: bool = False
    require_admin_2fa: bool = False
    two_factor_challenge_minutes: int = Field(5, ge=1, le=30)
    two_factor_encryption_key: SecretStr | None = None
    two_factor_issuer: str | None = Field(None, max_length=100)
    audit_retention_days: int = Field(365, ge=0)
    first_admin_email: EmailStr | None = None
    first_admin_password: SecretStr | None = None

    bcrypt_rounds: int = Field(12, ge=4, le=31)
    password_hash_concurrency: int = Field(1, ge=1)

    login_max_failures_per_email: int = Field(5, ge=1)
    login_max_failures_per_ip: int = Field(100, ge=1)
    login_throttle_window_minutes: int = Field(15, ge=1)
    password_reset_max_per_email: int = Field(3, ge=1)
    password_reset_max_per_ip: int = Field(20, ge=1)
    password_reset_window_minutes: int = Field(60, ge=1)

    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "no-reply@example.com"
    smtp_starttls: bool = True
    smtp_timeout: float = Field(10, gt=0)
    public_url: str = "http://localhost:8000"
    frontend_url: str | None = None

    max_request_body_bytes: int = Field(1024 * 1024, ge=1)
    max_request_header_bytes: int = Field(32 * 1024, ge=1024)
    max_request_headers: int = Field(100, ge=10)
    request_head_timeout: float = Field(5, gt=0)
    web_concurrency: int | None = Field(None, ge=1)
    forwarded_allow_ips: str = "127.0.0.1"

    csv_export_max_rows: int = Field(100_000, ge=1)
    csv_import_max_bytes: int = Field(1024 * 1024, ge=1)
    csv_import_max_rows: int = Field(1000, ge=1)

    admin_ui: bool = True
    metrics_enabled: bool = False
    metrics_token: SecretStr | None = None
    sentry_dsn: SecretStr | None = None
    sentry_traces_sample_rate: float = Field(0.0, ge=0, le=1)
    otel_exporter_otlp_endpoint: str | None = None

    @field_validator("cors_origins", "jwt_previous_secret_keys", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        for entry in (entry.strip() for entry in value.split(",")):
            if entry and entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _use_psycopg2(cls, value: str) -> str:
        # `postgres://` (as hosting providers write it) and `postgresql://` both mean
        # psycopg2; SQLAlchemy would otherwise refuse the first and pick psycopg 3.
        for scheme in ("postgres://", "postgresql://"):
            if value.startswith(scheme):
                return "postgresql+psycopg2://" + value.removeprefix(scheme)
        return value

    @model_validator(mode="after")
    def _resolve_secret_key(self) -> Self:
        key = self.jwt_secret_key.get_secret_value() if self.jwt_secret_key else ""
        if self.environment == "production":
            if not key:
                raise ValueError("JWT_SECRET_KEY must be set in production")
            check_key("JWT_SECRET_KEY", key)
        elif not key:
            generated = (
                secrets.token_urlsafe(48)
                if self.environment == "test"
                else read_or_create_secret(self.jwt_secret_key_file)
            )
            self.jwt_secret_key = SecretStr(generated)
        return self

    @model_validator(mode="after")
    def _check_two_factor_key(self) -> Self:
        if self.two_factor_encryption_key is not None:
            check_key(
                "TWO_FACTOR_ENCRYPTION_KEY", self.two_factor_encryption_key.get_secret_value()
            )
        return self

    @model_validator(mode="after")
    def _no_wildcard_origin_in_production(self) -> Self:
        if self.environment == "production" and "*" in self.cors_origins:
            raise ValueError(
                "CORS_ORIGINS=* is refused in production: list your frontends' origins"
            )
        return self

    @model_validator(mode="after")
    def _cookies_browsers_keep(self) -> Self:
        if self.auth_cookie_samesite == "none" and not self.cookie_secure:
            raise ValueError(
                "AUTH_COOKIE_SAMESITE=none needs AUTH_COOKIE_SECURE=true: browsers drop "
                "SameSite=None cookies that are not Secure"
            )
        return self

    @model_validator(mode="after")
    def _no_open_metrics_in_production(self) -> Self:
        if self.environment == "production" and self.metrics_enabled and not self.metrics_token:
            raise ValueError(
                "METRICS_ENABLED without METRICS_TOKEN is refused in production: "
                "anyone could read /metrics"
            )
        return self

    @model_validator(mode="after")
    def _providers_land_on_the_frontend(self) -> Self:
        if self.providers_enabled and self.frontend_url is None:
            raise ValueError(
                "a sign-in provider is configured: set FRONTEND_URL, where the browser "
                "lands with its sign-in code (<FRONTEND_URL><OAUTH_LANDING_PATH>)"
            )
        return self

    @model_validator(mode="after")
    def _check_previous_keys(self) -> Self:
        previous = [key.get_secret_value() for key in self.jwt_previous_secret_keys]
        if len(previous) > MAX_PREVIOUS_KEYS:
            raise ValueError(f"JWT_PREVIOUS_SECRET_KEYS takes at most {MAX_PREVIOUS_KEYS} keys")
        for key in previous:
            check_key("JWT_PREVIOUS_SECRET_KEYS", key)
        if len({self.secret_key, *previous}) != len(previous) + 1:
            raise ValueError("JWT_PREVIOUS_SECRET_KEYS must differ from each other and the key")
        return self

    @property
    def allowed_origins(self) -> list[str]:
        """The browser origins CORS allows: CORS_ORIGINS, else in development the
        usual local frontend origins, else none."""
        if self.cors_origins or self.environment != "development":
            return self.cors_origins
        return LOCAL_FRONTEND_ORIGINS

    @property
    def cookie_secure(self) -> bool:
        """Whether the sign-in cookies are `Secure`: AUTH_COOKIE_SECURE, else in production."""
        if self.auth_cookie_secure is None:
            return self.environment == "production"
        return self.auth_cookie_secure

    @property
    def database_write_threads(self) -> int:
        """Threads for writes: DATABASE_POOL_SIZE, or 2 on SQLite (one writer at a time;
        more would only wait in its busy handler, which is unfair: a few wait seconds)."""
        return SQLITE_WRITE_THREADS if self.is_sqlite else self.database_pool_size

    @property
    def password_hash_threads(self) -> int:
        """Threads for work that checks or sets a password: two per hash computed at
        once (PASSWORD_HASH_CONCURRENCY), so that one check's database work runs while
        another's bcrypt does."""
        return HASH_THREADS_PER_SLOT * self.password_hash_concurrency

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def previous_secret_keys(self) -> list[str]:
        """Keys that only verify tokens, from before a rotation."""
        return [key.get_secret_value() for key in self.jwt_previous_secret_keys]

    @property
    def two_factor_keys(self) -> list[str]:
        """What TOTP secrets are encrypted with (the first) and may have been encrypted
        with: TWO_FACTOR_ENCRYPTION_KEY when set, then the JWT keys (so secrets stay
        readable after a rotation while the former key is still listed)."""
        keys = [self.secret_key, *self.previous_secret_keys]
        if self.two_factor_encryption_key is not None:
            keys.insert(0, self.two_factor_encryption_key.get_secret_value())
        return keys

    @property
    def secret_key(self) -> str:
        """The JWT signing key (always set once validation has passed)."""
        if self.jwt_secret_key is None:  # pragma: no cover - the validator always sets it
            raise RuntimeError("JWT secret key not resolved")
        return self.jwt_secret_key.get_secret_value()


def describe_validation_error(error: ValidationError, *, upper: bool = False) -> str:
    """One readable line per invalid field (`upper`: named as environment variables)."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name.upper() if upper else name}: {message}" if name else message)
    return "; ".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
