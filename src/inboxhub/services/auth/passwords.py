"""Password hashing: argon2id with the RFC 9106 "low memory" recommendation."""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY


class PasswordHasher:
    def __init__(self) -> None:
        self._argon2 = _Argon2.from_parameters(RFC_9106_LOW_MEMORY)
        # Verifying against this when an account does not exist keeps the time of a
        # failed login the same whether or not the email is known.
        self._dummy = self._argon2.hash("not a real password")

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash or self._dummy, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon2.check_needs_rehash(password_hash)
