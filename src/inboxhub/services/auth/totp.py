"""TOTP second factor (RFC 6238, 30 s steps, 6 digits), recovery codes, MFA tickets.

The secret is sealed with the platform's ``SecretBox``. A code is accepted for the
step before, at or after now (clock drift), and only for a step later than the last
one used, so a code seen over a shoulder cannot be replayed within its window.
Recovery codes (ten, single use) are kept as sha256 hashes: they are random, so a
slow hash would add nothing.

Between the password and the code, the client holds an *MFA ticket*: the user's
ids sealed by the same box, valid for ``mfa_ticket_ttl_seconds`` (Fernet tokens
carry their creation time), useless as an access token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import pyotp

from inboxhub.crypto import SecretBox, SecretDecryptionError
from inboxhub.domain.errors import Conflict, InvalidInput, Unauthorized
from inboxhub.domain.models import User
from inboxhub.ports import AccountStore

RECOVERY_CODES = 10
TICKET_PURPOSE = "mfa"


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").encode()).hexdigest()


def _recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits, shown as xxxxx-xxxxx
    return f"{raw[:5]}-{raw[5:]}"


@dataclass(frozen=True)
class Enrollment:
    secret: str
    otpauth_uri: str


class TotpFactor:
    def __init__(self, store: AccountStore, box: SecretBox, issuer: str) -> None:
        self.store, self.box, self.issuer = store, box, issuer

    async def enabled(self, user: User) -> bool:
        state = await self.store.get_totp(user.tenant_id, user.id)
        return state is not None and state.confirmed

    async def pending(self, user: User) -> bool:
        state = await self.store.get_totp(user.tenant_id, user.id)
        return state is not None and not state.confirmed

    async def enroll(self, user: User) -> Enrollment:
        """A new secret, pending until ``confirm``; ``Conflict`` if one is in force."""
        secret = pyotp.random_base32()
        await self.store.put_totp(user.tenant_id, user.id, self.box.encrypt(secret.encode()))
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=self.issuer)
        return Enrollment(secret, uri)

    async def confirm(self, user: User, code: str) -> list[str]:
        """Put the pending secret in force once a code from it is shown; the recovery
        codes (shown once)."""
        state = await self.store.get_totp(user.tenant_id, user.id)
        if state is None:
            raise Conflict("no second factor is being enrolled: start with POST /auth/totp")
        if state.confirmed:
            raise Conflict("the second factor is in force already")
        if not await self._code_matches(user, state.secret, code):
            raise InvalidInput("the code does not match: check the authenticator's clock")
        codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
        await self.store.confirm_totp(user.tenant_id, user.id, [_hash(c) for c in codes])
        return codes

    async def verify(self, user: User, code: str) -> bool:
        """A code of the confirmed secret, or one of the recovery codes; each once."""
        state = await self.store.get_totp(user.tenant_id, user.id)
        if state is None or not state.confirmed:
            return False
        if code.strip().isdigit():
            return await self._code_matches(user, state.secret, code)
        return await self.store.use_recovery_code(user.tenant_id, user.id, _hash(code))

    async def disable(self, user: User) -> None:
        await self.store.delete_totp(user.tenant_id, user.id)

    async def _code_matches(self, user: User, sealed: bytes, code: str) -> bool:
        totp = pyotp.TOTP(self.box.decrypt(sealed).decode())
        now = int(time.time()) // totp.interval
        given = code.strip().encode()  # bytes: compare_digest refuses non-ASCII str
        for step in (now - 1, now, now + 1):
            if hmac.compare_digest(totp.generate_otp(step).encode(), given):
                return await self.store.use_totp_step(user.tenant_id, user.id, step)
        return False


class MfaTickets:
    def __init__(self, box: SecretBox, ttl: int) -> None:
        self.box, self.ttl = box, ttl

    def issue(self, user: User) -> str:
        data = {"purpose": TICKET_PURPOSE, "tenant_id": user.tenant_id, "user_id": user.id}
        return self.box.encrypt(json.dumps(data).encode()).decode()

    def open(self, ticket: str) -> tuple[str, str]:
        """(tenant_id, user_id) of a ticket issued less than ``ttl`` seconds ago."""
        try:
            data = json.loads(self.box.decrypt(ticket.encode(), ttl=self.ttl))
        except (SecretDecryptionError, ValueError) as exc:
            raise Unauthorized("the sign-in ticket is invalid or expired: sign in again") from exc
        if not isinstance(data, dict) or data.get("purpose") != TICKET_PURPOSE:
            raise Unauthorized("the sign-in ticket is invalid or expired: sign in again")
        return str(data["tenant_id"]), str(data["user_id"])
