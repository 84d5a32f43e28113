"""Every operation of the OpenAPI document, called by tenant B with tenant A's ids.

The operations come from ``app.openapi()``, so an endpoint added later is called
too; one whose path names an object the suite cannot make fails with "add a sample
for {param}" (tests/security/world.py makes the samples). Expected: 404 (or 403)
whenever the request names one of A's objects in its path or query, never a 5xx,
and never any of A's data in a response (A's ids, subjects, addresses) unless the
request itself carried it. Calls that change or delete get objects made for them
alone, and at the end A still has every object that was aimed at.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.security.openapi_ops import Operation
from tests.security.world import Call, MissingSample, World

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: operations anyone may call without a token, and why; each is still called with
#: tenant A's data and must neither fail with a 5xx nor show A's data
PUBLIC = {
    "GET /healthz": "liveness probe; says only 'ok'",
    "GET /readyz": "readiness probe; names the ports, no tenant data",
    "GET /metrics": "Prometheus scrape; its labels are route templates, never ids",
    "GET /.well-known/jwks.json": "the public keys tokens are verified with",
    "POST /api/v1/auth/login": "how a token is had: the password is the credential",
    "POST /api/v1/auth/refresh": "the refresh token in the body is the credential",
    "POST /api/v1/auth/logout": "the refresh token in the body is the credential",
    "GET /api/v1/mailboxes/oauth/{provider}/callback": (
        "the provider sends the browser back here; the sealed state says who asked"
    ),
    "POST /api/v1/push/gmail": "Google Pub/Sub push; checked by its shared token",
    "POST /api/v1/push/graph": "Microsoft Graph change notification; checked by clientState",
    "POST /api/v1/invitations/accept": "the invitation token in the body is the credential",
    "POST /api/v1/auth/login/totp": "sign-in's second step: the first step's ticket is the key",
    "POST /api/v1/auth/password/reset": "asks for a reset mail; the same answer for any address",
    "POST /api/v1/auth/password/reset/confirm": "the mailed reset token is the credential",
    "GET /api/v1/auth/sso/{tenant_slug}/oidc/login": "starts the tenant's OIDC sign-in",
    "GET /api/v1/auth/sso/{tenant_slug}/oidc/callback": (
        "the IdP sends the browser back; state, nonce and the id_token are checked"
    ),
    "GET /api/v1/auth/sso/{tenant_slug}/saml/metadata": "the SP metadata the tenant's IdP needs",
    "GET /api/v1/auth/sso/{tenant_slug}/saml/login": "starts the tenant's SAML sign-in",
    "POST /api/v1/auth/sso/{tenant_slug}/saml/acs": "the signed SAML assertion is the credential",
    "POST /api/v1/auth/sso/exchange": "the one-time code of the SSO callback is the credential",
    "GET /api/v1/auth/sso/discover": (
        "the sign-in page asks which SSO a tenant offers: only protocols and login paths, "
        "the same empty answer for unknown tenants"
    ),
}
NOT_THERE = (403, 404)


def leaks(world: World, call: Call, text: str) -> set[str]:
    """A's markers in ``text`` that the request did not carry itself."""
    return {m for m in world.markers if m in text and m not in call.text}


def _updated(body: Any) -> int:
    if isinstance(body, dict):
        return sum(v for k, v in body.items() if k in ("updated", "deleted") and isinstance(v, int))
    return 0


async def _calls(world: World) -> tuple[list[tuple[Operation, Call]], list[str]]:
    """Every operation aimed at A's objects (reads first, writes last)."""
    calls, problems = [], []
    for op in sorted(world.operations(), key=lambda o: (o.writes, o.method == "delete")):
        try:
            calls.append((op, await world.call(op, world.a, "assigned", fresh=op.writes)))
        except MissingSample as exc:
            problems.append(str(exc))
    return calls, problems


async def test_tenant_b_reaches_none_of_tenant_as_objects(world: World) -> None:
    calls, problems = await _calls(world)
    for op, call in calls:
        token = await world.token(world.b, "boss")
        if op.streams:
            status, chunk = await world.first_chunk(call, token)
            text = chunk.decode(errors="replace")
        else:
            r = await world.send(call, token)
            status, text = r.status_code, r.text
        where = f"{op.key} as tenant B's admin ({call.url} {call.params} {call.body})"
        if status >= 500:
            problems.append(f"{where}: {status} {text[:300]}")
        elif op.key not in PUBLIC and call.aimed and status not in NOT_THERE:
            problems.append(f"{where}: expected 404/403, got {status} {text[:300]}")
        if found := leaks(world, call, text):
            problems.append(f"{where}: shows tenant A's {sorted(found)}")
        if not op.streams and status < 300 and _updated(_json(text)):
            problems.append(f"{where}: changed tenant A's objects: {text[:300]}")
    assert not problems, "\n".join(problems)
    await _a_still_has_everything(world, calls)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def _a_still_has_everything(world: World, calls: list[tuple[Operation, Call]]) -> None:
    """Every object of A that a changing call named in its path is still there: read
    back by A's admin (a tenant by the platform operator)."""
    reads = {op.path for op in world.operations() if op.method == "get"}
    missing = []
    for op, call in calls:
        if not op.writes or not call.aimed:
            continue
        for param in op.path_params:
            template = op.path[: op.path.index("{" + param + "}") + len(param) + 2]
            if template not in reads:
                continue
            url = "/".join(call.url.split("/")[: template.count("/") + 1])
            reader = (world.platform, "operator") if param == "tenant_id" else (world.a, "boss")
            r = await world.send(Call("GET", url, {}, None), await world.token(*reader))
            if r.status_code != 200:
                missing.append(f"{url} (after {op.key}): {r.status_code}")
    assert not missing, "tenant A lost objects:\n" + "\n".join(missing)


async def test_tenant_as_objects_without_a_token_are_unauthorized(world: World) -> None:
    calls, problems = await _calls(world)
    for op, call in calls:
        if op.key in PUBLIC:
            continue
        if op.streams:
            status, chunk = await world.first_chunk(call, None)
            text = chunk.decode(errors="replace")
        else:
            r = await world.send(call, None)
            status, text = r.status_code, r.text
        if status != 401:
            problems.append(
                f"{op.key} without a token: {status} (expected 401; if it is meant to be "
                f"public, list it in PUBLIC with the reason) {text[:200]}"
            )
        if found := leaks(world, call, text):
            problems.append(f"{op.key} without a token shows {sorted(found)}")
    assert not problems, "\n".join(problems)


async def test_public_operations_show_nothing_of_tenant_a(world: World) -> None:
    """Called with A's ids and addresses but no credential: no 5xx, no 2xx that names
    A's data, and answers only what a public endpoint may."""
    calls, problems = await _calls(world)
    for op, call in calls:
        if op.key not in PUBLIC:
            continue
        for token in (None, await world.token(world.b, "boss")):
            r = await world.send(call, token)
            if r.status_code >= 500:
                problems.append(f"{op.key}: {r.status_code} {r.text[:300]}")
            if found := leaks(world, call, r.text):
                problems.append(f"{op.key} shows tenant A's {sorted(found)}")
    login = await world.send(
        Call("POST", "/api/v1/auth/login", {}, {"email": world.a.emails["boss"], "password": "x"}),
        None,
    )
    assert login.status_code == 401
    assert not problems, "\n".join(problems)


async def _forgeries(world: World) -> dict[str, str]:
    """Tenant B's admin's token with its tenant_id claim changed to A, signed by what
    the JWKS does not hold."""
    real = await world.token(world.b, "boss")
    header = jwt.get_unverified_header(real)
    claims = jwt.decode(real, options={"verify_signature": False})
    claims["tenant_id"] = world.a.id
    claims["roles"] = ["owner", "admin", "platform_admin"]
    stranger = Ed25519PrivateKey.generate()
    public_jwks = json.dumps(world.auth.tokens.jwks())
    return {
        "a foreign key under the real kid": jwt.encode(
            claims, stranger, algorithm="EdDSA", headers={"kid": header["kid"]}
        ),
        "a foreign key under a new kid": jwt.encode(
            claims, stranger, algorithm="EdDSA", headers={"kid": "forged"}
        ),
        "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]}),
        "HS256 keyed with the public JWKS": _hs256(claims, public_jwks, header["kid"]),
    }


def _hs256(claims: dict[str, Any], secret: str, kid: str) -> str:
    import base64
    import hashlib
    import hmac

    def part(data: dict[str, Any]) -> bytes:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signing = part({"alg": "HS256", "typ": "JWT", "kid": kid}) + b"." + part(claims)
    mac = hmac.new(secret.encode(), signing, hashlib.sha256).digest()
    return (signing + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()


async def test_forged_tenant_claims_are_unauthorized(world: World) -> None:
    calls, problems = await _calls(world)
    for what, token in (await _forgeries(world)).items():
        for op, call in calls:
            if op.key in PUBLIC or op.streams:
                continue
            r = await world.send(call, token)
            if r.status_code != 401:
                problems.append(f"{op.key} with {what}: {r.status_code} {r.text[:200]}")
            if found := leaks(world, call, r.text):
                problems.append(f"{op.key} with {what} shows {sorted(found)}")
    assert not problems, "\n".join(problems)
