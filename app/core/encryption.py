"""Encryption of small secrets kept in the database (TOTP secrets), with AES-256-GCM.

The key is derived with HKDF-SHA256 from a setting (`Settings.two_factor_keys`:
TWO_FACTOR_ENCRYPTION_KEY, else JWT_SECRET_KEY), never used as it is: the signing key
and the encryption key stay independent. A stored value names the key that encrypted
it (`kid`, a digest of the derived key), so a rotated key still decrypts what it
encrypted while it is listed, and `needs_new_key` tells when to encrypt again. Each
value is bound to what it belongs to (`context`, e.g. the user's id: associated data),
so a value copied to another row does not decrypt.
"""

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
VERSION = "v1"


class DecryptionError(Exception):
    """A stored value that no configured key decrypts (or that was tampered with)."""


def _derive(key: str, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
    return hkdf.derive(key.encode())


def _kid(derived: bytes) -> str:
    return hashlib.sha256(b"kid\n" + derived).hexdigest()[:16]


class SecretBox:
    """Encrypts with the first of `keys`, decrypts with whichever of them encrypted."""

    def __init__(self, keys: list[str], *, purpose: str) -> None:
        derived = [_derive(key, purpose) for key in keys]
        self._keys = {_kid(key): AESGCM(key) for key in derived}
        self._current = _kid(derived[0])

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """`plaintext` encrypted, as `v1.<kid>.<base64url(nonce + ciphertext)>`."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        encoded = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}.{self._current}.{encoded}"

    def decrypt(self, stored: str, *, context: str) -> str:
        """The plaintext of `stored`; raises `DecryptionError`."""
        try:
            version, kid, encoded = stored.split(".")
            if version != VERSION or kid not in self._keys:
                raise DecryptionError("unknown version or key")
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
            return self._keys[kid].decrypt(nonce, sealed, context.encode()).decode()
        except (ValueError, InvalidTag) as exc:
            raise DecryptionError("cannot decrypt") from exc

    def needs_new_key(self, stored: str) -> bool:
        """Whether `stored` was encrypted with another key than the current one."""
        return stored.split(".")[1:2] != [self._current]
