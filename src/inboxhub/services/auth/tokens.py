"""Access tokens (EdDSA-signed JWT) and rotating refresh tokens.

Signing keys are Ed25519, stored encrypted in the relational store, several at a
time: the newest signs, all are published in the JWKS and verify, so a rotation
never logs anyone out. Verification accepts only EdDSA with a known ``kid`` and
checks expiry, issuer and audience: ``alg: none``, HMAC with the public key
(key confusion) and RSA tokens are all refused. A process that meets a ``kid`` it
does not know reloads the keys from the store (another process rotated them), at
most once per ``reload_seconds``, so made-up key ids cannot hammer the database.

Access tokens carry exactly ``sub, tenant_id, roles, exp, iat, jti, iss, aud``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from inboxhub.crypto import SecretBox
from inboxhub.domain.errors import Unauthorized
from inboxhub.domain.models import User
from inboxhub.ports import Directory

KEYS_SECRET = "jwt_signing_keys"
ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    tenant_id: str
    roles: tuple[str, ...]
    jti: str
    exp: int
    iat: int = 0


class UnknownKey(Unauthorized):
    """The token names a signing key this key set lacks (perhaps a newer one)."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey
    created_at: str

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def jwk(self) -> dict[str, Any]:
        data = json.loads(OKPAlgorithm.to_jwk(self.public))
        return {**data, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _new_key() -> SigningKey:
    return SigningKey(
        uuid.uuid4().hex[:16], Ed25519PrivateKey.generate(), datetime.now(UTC).isoformat()
    )


class JwksVerifier:
    """Verifies access tokens against a key set (a service's own, or a fetched JWKS)."""

    def __init__(self, public_keys: dict[str, Ed25519PublicKey], issuer: str, audience: str):
        self.public_keys, self.issuer, self.audience = public_keys, issuer, audience

    @classmethod
    def from_jwks(cls, jwks: dict[str, Any], issuer: str, audience: str) -> JwksVerifier:
        keys = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and "kid" in jwk:
                key = OKPAlgorithm.from_jwk(json.dumps(jwk))
                if isinstance(key, Ed25519PublicKey):
                    keys[jwk["kid"]] = key
        return cls(keys, issuer, audience)

    def verify_access(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM:
                raise Unauthorized("token not signed by a known key")
            key = self.public_keys.get(header.get("kid", ""))
            if key is None:
                raise UnknownKey("token not signed by a known key")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        return AccessClaims(
            str(claims["sub"]),
            str(claims.get("tenant_id", "")),
            tuple(claims.get("roles", [])),
            str(claims["jti"]),
            int(claims["exp"]),
            int(claims["iat"]),
        )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    def __init__(
        self,
        directory: Directory,
        box: SecretBox,
        issuer: str,
        audience: str,
        access_ttl: int,
        refresh_ttl: int,
        reload_seconds: float = 10.0,
    ) -> None:
        self.directory, self.box = directory, box
        self.issuer, self.audience = issuer, audience
        self.access_ttl, self.refresh_ttl = access_ttl, refresh_ttl
        self.reload_seconds = reload_seconds
        self.keys: list[SigningKey] = []  # newest first
        self.verifier = JwksVerifier({}, issuer, audience)
        self._reloaded_at = float("-inf")  # time.monotonic() of the last ``reload``

    async def init(self) -> None:
        stored = await self.directory.get_secret(KEYS_SECRET)
        if stored is None:  # first start; every process starting now agrees on one key
            stored = await self.directory.create_secret(KEYS_SECRET, self._encode([_new_key()]))
        self._load(stored)

    async def reload(self) -> bool:
        """Load the keys again unless a reload was done within ``reload_seconds``;
        True if they were loaded."""
        if time.monotonic() - self._reloaded_at < self.reload_seconds:
            return False
        self._reloaded_at = time.monotonic()
        stored = await self.directory.get_secret(KEYS_SECRET)
        if stored is not None:
            self._load(stored)
        return True

    def _load(self, stored: bytes) -> None:
        entries = json.loads(self.box.decrypt(stored))
        self.keys = [
            SigningKey(
                e["kid"],
                serialization.load_pem_private_key(  # type: ignore[arg-type]
                    e["private_pem"].encode(), None
                ),
                e["created_at"],
            )
            for e in entries
        ]
        self.verifier = JwksVerifier(
            {k.kid: k.public for k in self.keys}, self.issuer, self.audience
        )

    def _encode(self, keys: list[SigningKey]) -> bytes:
        data = json.dumps(
            [
                {"kid": k.kid, "private_pem": _pem(k.private), "created_at": k.created_at}
                for k in keys
            ]
        ).encode()
        return self.box.encrypt(data)

    async def rotate(self, keep: int = 3) -> None:
        """A new signing key; the previous ones stay valid for verification."""
        stored = await self.directory.get_secret(KEYS_SECRET)  # another process may have
        if stored is not None:  # rotated since this one loaded
            self._load(stored)
        await self.directory.put_secret(KEYS_SECRET, self._encode([_new_key(), *self.keys][:keep]))
        stored = await self.directory.get_secret(KEYS_SECRET)
        assert stored is not None
        self._load(stored)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys]}

    def issue_access(self, user: User) -> str:
        now = datetime.now(UTC)
        key = self.keys[0]
        claims = {
            "sub": user.id,
            "tenant_id": user.tenant_id,
            "roles": user.roles,
            "iat": now,
            "exp": now + timedelta(seconds=self.access_ttl),
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.audience,
        }
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify_access(self, token: str) -> AccessClaims:
        """Verify with the keys loaded now (see ``verify`` for a rotation elsewhere)."""
        return self.verifier.verify_access(token)

    async def verify(self, token: str) -> AccessClaims:
        """``verify_access``, reloading the keys first if the token names an unknown one."""
        try:
            return self.verifier.verify_access(token)
        except UnknownKey:
            if not await self.reload():
                raise
        return self.verifier.verify_access(token)

    async def issue_refresh(self, user: User, family: str | None = None) -> str:
        token = secrets.token_urlsafe(32)
        await self.directory.store_refresh_token(
            user.tenant_id,
            user.id,
            _hash(token),
            family or uuid.uuid4().hex,
            datetime.now(UTC) + timedelta(seconds=self.refresh_ttl),
        )
        return token

    async def rotate_refresh(self, token: str) -> tuple[str, str, str]:
        """Use a refresh token: (tenant_id, user_id, family), or Unauthorized. Reusing a
        token that was already rotated revokes its whole family."""
        used = await self.directory.use_refresh_token(_hash(token))
        if used is None:
            raise Unauthorized("refresh token is invalid, expired or already used")
        return used

    async def revoke(self, token: str) -> None:
        used = await self.directory.use_refresh_token(_hash(token))
        if used is not None:
            await self.directory.revoke_refresh_family(used[2])
