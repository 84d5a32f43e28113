"""Password hashing: argon2id with the RFC 9106 "low memory" recommendation."""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

from inboxhub.domain.errors import InvalidInput

MAX_LENGTH = 1024  # what the login request accepts


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


def check_password_policy(password: str, email: str, min_length: int) -> None:
    """Raise ``InvalidInput`` unless ``password`` may be set for ``email``.

    Length is what makes a password strong (NIST SP 800-63B §5.1.1.2), so the rule is
    a minimum length and no composition rules; the account's own email, its local
    part and one character repeated are refused as the first things a guesser tries.
    """
    if len(password) < min_length:
        raise InvalidInput(f"the password needs at least {min_length} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password may have at most {MAX_LENGTH} characters")
    lowered, address = password.strip().lower(), email.strip().lower()
    if lowered in {address, address.split("@", 1)[0]}:
        raise InvalidInput("the password may not be the email address")
    if len(set(password)) == 1:
        raise InvalidInput("the password may not be one character repeated")
