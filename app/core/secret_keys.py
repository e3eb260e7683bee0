"""The service's secret keys: what makes one usable, and the development key kept in a
git-ignored file when JWT_SECRET_KEY is not set."""

import contextlib
import os
import secrets
from pathlib import Path

MIN_SECRET_LENGTH = 32
PLACEHOLDER_SECRETS = frozenset(
    {
        "change-me",
        "changeme",
        "change-me-to-a-long-random-string-of-at-least-32-characters",
        "secret",
        "your-secret-key",
    }
)


def check_key(variable: str, key: str) -> None:
    """Refuse a key that is short or a placeholder; `variable` names it in the message."""
    if len(key) < MIN_SECRET_LENGTH:
        raise ValueError(f"{variable} must be at least {MIN_SECRET_LENGTH} characters")
    if key.lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{variable} is a placeholder; set a random value")


def read_or_create_secret(path: Path) -> str:
    """Return the development key kept in `path`, creating it atomically on first use.

    Several workers may start at once: the key is written to a private temporary file
    and linked into place, so every process ends up reading the same complete key.
    """
    if not path.exists():
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text().strip()
    if len(key) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"{path} holds no usable key; delete it to have one generated, or set JWT_SECRET_KEY"
        )
    return key
