"""Secrets at rest: authenticated encryption with keys derived from the settings.

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived by HKDF-SHA256 from each
configured secret. Several secrets may be given (comma separated): the first
encrypts, all decrypt, so a key can be rotated by prepending a new one and
re-encrypting at leisure (``MultiFernet``).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretDecryptionError(Exception):
    """The ciphertext was tampered with, or none of the keys is the one that made it."""


def _derive(secret: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"inboxhub/secret-box/v1", info=b"fernet"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class SecretBox:
    def __init__(self, secret_keys: str | list[str]) -> None:
        keys = secret_keys.split(",") if isinstance(secret_keys, str) else secret_keys
        keys = [k.strip() for k in keys if k.strip()]
        if not keys:
            raise ValueError("at least one secret key is needed")
        self._fernet = MultiFernet([_derive(k) for k in keys])

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes, ttl: int | None = None) -> bytes:
        """The plaintext; with ``ttl``, only if the token is at most that many seconds
        old (Fernet tokens carry their creation time)."""
        try:
            return self._fernet.decrypt(token, ttl=ttl)
        except InvalidToken as exc:
            raise SecretDecryptionError(
                "secret cannot be decrypted with the configured keys"
            ) from exc

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the first (newest) key."""
        return self._fernet.rotate(token)
