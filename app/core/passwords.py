"""Password hashing with bcrypt at BCRYPT_ROUNDS.

Hashing blocks its thread for the length of a bcrypt run: work that hashes runs on
the hashing threads (`app.core.threads`), never on the event loop, and at most
PASSWORD_HASH_CONCURRENCY runs at once.
"""

import os
import secrets
import threading

import bcrypt

from app.models.fields import NO_PASSWORD_PREFIX, PASSWORD_MAX_BYTES


def no_password() -> str:
    """The stored hash of an account without a password: unique (so tokens bound to
    it behave as with a password), and matched by no password."""
    return NO_PASSWORD_PREFIX + secrets.token_urlsafe(32)


class PasswordHasher:
    """bcrypt at a fixed cost, at most `concurrency` runs at once (the rest wait).
    Checking a password against no hash (an unknown email) costs the same as a real
    check, and unusable input is simply a wrong password."""

    def __init__(self, rounds: int, *, concurrency: int = 1) -> None:
        self.rounds = rounds
        self._running = threading.BoundedSemaphore(concurrency)
        self._dummy_hash = self.hash(os.urandom(16).hex())

    def hash(self, password: str) -> str:
        """The bcrypt hash of `password`."""
        with self._running:
            hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.rounds))
        return hashed.decode()

    def verify(self, password: str, password_hash: str | None) -> bool:
        """Whether `password` matches `password_hash`; `None` and an account without a
        password (`no_password`) never match, at the cost of a real check."""
        if password_hash is not None and password_hash.startswith(NO_PASSWORD_PREFIX):
            password_hash = None
        candidate = _password_bytes(password)
        stored = (password_hash or self._dummy_hash).encode()
        with self._running:
            if candidate is None:
                bcrypt.checkpw(b"", self._dummy_hash.encode())
                return False
            matches: bool = bcrypt.checkpw(candidate, stored)
        return matches and password_hash is not None


def _password_bytes(password: str) -> bytes | None:
    try:
        encoded = password.encode()
    except UnicodeEncodeError:
        return None
    return encoded if len(encoded) <= PASSWORD_MAX_BYTES else None
