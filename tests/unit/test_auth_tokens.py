"""Access tokens: only our EdDSA signatures open the API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from inboxhub.adapters.db import SqlDirectory
from inboxhub.crypto import SecretBox
from inboxhub.domain.errors import Unauthorized
from inboxhub.domain.models import User
from inboxhub.services.auth.tokens import JwksVerifier, TokenService, UnknownKey

USER = User(
    id="u1", tenant_id="t1", email="a@b.test", roles=["admin"], created_at=datetime.now(UTC)
)


@pytest.fixture()
async def tokens(tmp_path: Path) -> AsyncIterator[TokenService]:
    directory = await SqlDirectory.open(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    service = TokenService(directory, SecretBox("k" * 40), "inboxhub", "inboxhub-api", 60, 3600)
    await service.init()
    yield service
    await directory.close()


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "sub": "u1",
        "tenant_id": "t1",
        "roles": ["admin"],
        "iat": now,
        "exp": now + 60,
        "jti": "j",
        "iss": "inboxhub",
        "aud": "inboxhub-api",
        **over,
    }


async def test_round_trip(tokens: TokenService) -> None:
    claims = tokens.verify_access(tokens.issue_access(USER))
    assert (claims.user_id, claims.tenant_id, claims.roles) == ("u1", "t1", ("admin",))


async def test_signing_key_is_stored_encrypted(tokens: TokenService) -> None:
    stored = await tokens.directory.get_secret("jwt_signing_keys")
    assert stored is not None and b"PRIVATE KEY" not in stored


def _sign(tokens: TokenService, **claims: object) -> str:
    key = tokens.keys[0]
    return jwt.encode(_claims(**claims), key.private, algorithm="EdDSA", headers={"kid": key.kid})


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1},
        {"aud": "someone-else"},
        {"iss": "evil"},
        {"nbf": "+600"},  # not valid for ten minutes yet
    ],
)
async def test_bad_claims_are_refused(tokens: TokenService, claims: dict[str, object]) -> None:
    # relative times are made now, not when the tests were collected (a long run
    # would otherwise reach the "future")
    claims = {
        k: int(time.time()) + int(v) if isinstance(v, str) and v[0] in "+-" else v
        for k, v in claims.items()
    }
    with pytest.raises(Unauthorized):
        tokens.verify_access(_sign(tokens, **claims))


async def test_alg_none_is_refused(tokens: TokenService) -> None:
    forged = f"{_b64({'alg': 'none', 'kid': tokens.keys[0].kid})}.{_b64(_claims())}."
    with pytest.raises(Unauthorized):
        tokens.verify_access(forged)


async def test_hmac_with_the_public_key_is_refused(tokens: TokenService) -> None:
    public = tokens.keys[0].public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64({"alg": "HS256", "kid": tokens.keys[0].kid, "typ": "JWT"})
    body = _b64(_claims())
    mac = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{body}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
    with pytest.raises(Unauthorized):
        tokens.verify_access(forged)


async def test_other_keys_and_algorithms_are_refused(tokens: TokenService) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthorized):
        tokens.verify_access(
            jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": tokens.keys[0].kid})
        )
    good = tokens.issue_access(USER)
    with pytest.raises(Unauthorized):  # unknown kid
        tokens.verify_access(
            jwt.encode(
                _claims(), tokens.keys[0].private, algorithm="EdDSA", headers={"kid": "nope"}
            )
        )
    head, _, sig = good.split(".")
    with pytest.raises(Unauthorized):  # claims changed after signing
        tokens.verify_access(f"{head}.{_b64(_claims(roles=['owner']))}.{sig}")


async def test_rotation_keeps_old_tokens_valid_and_publishes_both_keys(
    tokens: TokenService,
) -> None:
    old = tokens.issue_access(USER)
    await tokens.rotate()
    new = tokens.issue_access(USER)
    assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
    jwks = tokens.jwks()
    assert len(jwks["keys"]) == 2 and all(k["alg"] == "EdDSA" for k in jwks["keys"])
    remote = JwksVerifier.from_jwks(jwks, "inboxhub", "inboxhub-api")
    assert remote.verify_access(old).user_id == remote.verify_access(new).user_id == "u1"


async def test_refresh_tokens_rotate_and_reuse_is_detected(tokens: TokenService) -> None:
    first = await tokens.issue_refresh(USER)
    tenant, user, family = await tokens.rotate_refresh(first)
    second = await tokens.issue_refresh(USER, family)
    with pytest.raises(Unauthorized):
        await tokens.rotate_refresh(first)
    with pytest.raises(Unauthorized):  # the family died with the reuse
        await tokens.rotate_refresh(second)
    assert (tenant, user) == ("t1", "u1")


async def test_access_tokens_carry_exactly_the_documented_claims(tokens: TokenService) -> None:
    token = tokens.issue_access(USER)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"sub", "tenant_id", "roles", "exp", "iat", "jti", "iss", "aud"}
    assert jwt.get_unverified_header(token) == {
        "alg": "EdDSA",
        "typ": "JWT",
        "kid": tokens.keys[0].kid,
    }
    verified = tokens.verify_access(token)
    assert verified.iat == claims["iat"] and verified.exp == claims["iat"] + 60


async def test_another_process_verifies_tokens_signed_after_a_rotation(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/shared.sqlite"
    first, second = await SqlDirectory.open(url), await SqlDirectory.open(url)
    box = SecretBox("k" * 40)
    signer = TokenService(first, box, "inboxhub", "inboxhub-api", 60, 3600)
    # the other process reloads at most once an hour: the second rotation stays unseen
    verifier = TokenService(second, box, "inboxhub", "inboxhub-api", 60, 3600, 3600)
    try:
        await signer.init()
        await verifier.init()
        assert [k.kid for k in verifier.keys] == [k.kid for k in signer.keys]
        before = signer.issue_access(USER)
        await signer.rotate()
        after = signer.issue_access(USER)
        with pytest.raises(UnknownKey):  # its keys are those it loaded
            verifier.verify_access(after)
        assert (await verifier.verify(after)).user_id == "u1"  # reloads on the unknown kid
        assert (await verifier.verify(before)).user_id == "u1"
        assert len(verifier.jwks()["keys"]) == 2
        await signer.rotate()
        with pytest.raises(UnknownKey):  # throttled: no second reload within the hour
            await verifier.verify(signer.issue_access(USER))
    finally:
        await first.close()
        await second.close()


async def test_a_rotation_keeps_keys_another_process_added(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/shared.sqlite"
    first, second = await SqlDirectory.open(url), await SqlDirectory.open(url)
    box = SecretBox("k" * 40)
    a = TokenService(first, box, "inboxhub", "inboxhub-api", 60, 3600)
    b = TokenService(second, box, "inboxhub", "inboxhub-api", 60, 3600)
    try:
        await a.init()
        await b.init()
        await a.rotate()
        await b.rotate()  # b never saw a's key, yet keeps it
        assert len(b.keys) == 3 and a.keys[0].kid in {k.kid for k in b.keys}
    finally:
        await first.close()
        await second.close()


async def test_the_rotate_command_adds_a_signing_key(tmp_path: Path) -> None:
    from inboxhub.services.auth.keys import rotate_signing_keys
    from inboxhub.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", secret_key="k" * 40)
    first = await rotate_signing_keys(settings)
    second = await rotate_signing_keys(settings, keep=2)
    assert len(first) == 2 and second == [second[0], first[0]]
