"""Access tokens over HTTP: forged, expired and misaddressed ones are refused with a
problem document; logout and a user's revocation make held tokens fail, in this
process at once and in another through the database; a rotation elsewhere is
picked up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from inboxhub.runtime import build_auth
from inboxhub.services.auth import revocation
from inboxhub.services.auth.tokens import TokenService
from tests.integration.accounts_app import ADA, BOB, Accounts, accounts_app, bearer

PROTECTED = "/api/v1/auth/totp"


@pytest.fixture()
async def accounts(tmp_path: Path) -> AsyncIterator[Accounts]:
    async with accounts_app(tmp_path / "data") as a:
        yield a


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _json(data: dict[str, object]) -> str:
    return _b64(json.dumps(data).encode())


def _claims(a: Accounts, user_id: str, **over: object) -> dict[str, object]:
    now = int(time.time())
    s = a.c.settings
    return {
        "sub": user_id,
        "tenant_id": a.tenant_id,
        "roles": ["admin"],
        "iat": now,
        "exp": now + 300,
        "jti": "forged-" + str(time.monotonic_ns()),
        "iss": s.jwt_issuer,
        "aud": s.jwt_audience,
        **over,
    }


def _signed(tokens: TokenService, claims: dict[str, object], kid: str | None = None) -> str:
    key = tokens.keys[0]
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": kid or key.kid})


def _alg_none(t: TokenService, c: dict[str, object]) -> str:
    return f"{_json({'alg': 'none', 'typ': 'JWT', 'kid': t.keys[0].kid})}.{_json(c)}."


def _hs256_public_key(t: TokenService, c: dict[str, object]) -> str:
    public = t.keys[0].public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = _json({"alg": "HS256", "typ": "JWT", "kid": t.keys[0].kid})
    body = _json(c)
    mac = hmac.new(public, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def _rs256(t: TokenService, c: dict[str, object]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(c, key, algorithm="RS256", headers={"kid": t.keys[0].kid})


def _other_ed25519_key(t: TokenService, c: dict[str, object]) -> str:
    key = Ed25519PrivateKey.generate()
    return jwt.encode(c, key, algorithm="EdDSA", headers={"kid": t.keys[0].kid})


def _tampered(t: TokenService, c: dict[str, object]) -> str:
    head, _, sig = _signed(t, c).split(".")
    return f"{head}.{_json({**c, 'roles': ['owner', 'admin']})}.{sig}"


Forge = Callable[[TokenService, dict[str, object]], str]
FORGERIES: dict[str, tuple[Forge, dict[str, object]]] = {
    "alg none": (_alg_none, {}),
    "HS256 keyed with the public key": (_hs256_public_key, {}),
    "RS256": (_rs256, {}),
    "EdDSA by another key": (_other_ed25519_key, {}),
    "expired": (_signed, {"exp": "-60", "iat": "-400"}),
    "wrong audience": (_signed, {"aud": "someone-else"}),
    "wrong issuer": (_signed, {"iss": "https://evil.test"}),
    "no jti": (_signed, {"jti": None}),
    "unknown kid": (lambda t, c: _signed(t, c, kid="no-such-key"), {}),
    "tampered claims": (_tampered, {}),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
async def test_bad_tokens_are_refused_with_a_problem(accounts: Accounts, name: str) -> None:
    forge, over = FORGERIES[name]
    now = int(time.time())
    resolved = {
        k: now + int(v) if isinstance(v, str) and v[:1] in "+-" else v for k, v in over.items()
    }
    claims = {
        k: v for k, v in _claims(accounts, await accounts.user_id(ADA), **resolved).items() if v
    }
    token = forge(accounts.auth.tokens, claims)
    async with accounts.client() as client:
        genuine = await client.get(PROTECTED, headers=bearer(_signed(accounts.auth.tokens, claims)))
        refused = await client.get(PROTECTED, headers=bearer(token))
    if name not in {"expired", "wrong audience", "wrong issuer", "no jti"}:
        assert genuine.status_code == 200  # the same claims, signed by us, would pass
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.json()["status"] == 401 and "Traceback" not in refused.text


async def test_logout_revokes_the_access_token_presented(accounts: Accounts) -> None:
    session, other = await accounts.tokens(), await accounts.tokens()
    async with accounts.client() as client:
        headers = bearer(session["access_token"])
        assert (await client.get(PROTECTED, headers=headers)).status_code == 200
        out = await client.post(
            "/api/v1/auth/logout", json={"refresh_token": session["refresh_token"]}, headers=headers
        )
        assert out.status_code == 204
        assert (await client.get(PROTECTED, headers=headers)).status_code == 401
        refresh = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
        )
        assert refresh.status_code == 401
        # another session of the same user goes on
        assert (
            await client.get(PROTECTED, headers=bearer(other["access_token"]))
        ).status_code == 200
    revocation._tokens.clear()  # a process that never saw the logout asks the database
    async with accounts.client() as client:
        assert (await client.get(PROTECTED, headers=headers)).status_code == 401


async def test_revoking_a_user_fails_their_tokens_here_and_elsewhere(
    accounts: Accounts, tmp_path: Path
) -> None:
    ada, bob = await accounts.tokens(ADA), await accounts.tokens(BOB)
    await accounts.auth.revoke_user(accounts.tenant_id, await accounts.user_id(ADA))
    async with accounts.client() as client:
        assert (await client.get(PROTECTED, headers=bearer(ada["access_token"]))).status_code == 401
        assert (await client.get(PROTECTED, headers=bearer(bob["access_token"]))).status_code == 200
        refresh = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": ada["refresh_token"]}
        )
        assert refresh.status_code == 401
    revocation._tokens.clear()  # as in another process: only the database knows
    revocation._not_before.clear()
    async with accounts.client() as client:
        assert (await client.get(PROTECTED, headers=bearer(ada["access_token"]))).status_code == 401
        assert (await client.get(PROTECTED, headers=bearer(bob["access_token"]))).status_code == 200


async def test_a_key_rotated_by_another_process_is_picked_up(accounts: Accounts) -> None:
    elsewhere = await build_auth(accounts.c)  # its own TokenService on the same database
    before = await accounts.tokens()
    await elsewhere.tokens.rotate()
    user = await elsewhere.user(accounts.tenant_id, await accounts.user_id(ADA))
    after = await elsewhere.tokens_for(user)
    async with accounts.client() as client:
        for token in (before["access_token"], after["access_token"]):
            assert (await client.get(PROTECTED, headers=bearer(str(token)))).status_code == 200
        jwks = (await client.get("/.well-known/jwks.json")).json()
    assert len(jwks["keys"]) == 2
