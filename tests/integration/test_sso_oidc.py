"""OpenID Connect sign-in against a real OpenID Provider (authlib's server components
on a loopback port, tests/idp/oidc.py), and the tenant admins' SSO configuration."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from inboxhub.domain.events import TENANT_CONFIG_UPDATED, USER_CREATED
from tests.idp.harness import MEMBER, UNVERIFIED, VERIFIED, Site, local, site, sso_code
from tests.idp.oidc import CLIENT_ID, CLIENT_SECRET, OidcIdp

LOGIN = "/api/v1/auth/sso/acme/oidc/login"


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcIdp]:
    server = OidcIdp().start()
    yield server
    server.stop()


@pytest.fixture()
async def s(tmp_path: Path, idp: OidcIdp) -> AsyncIterator[Site]:
    idp.tamper = None
    async with site(tmp_path) as running:
        body = {"issuer": idp.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        r = await running.admin.put("/api/v1/sso/oidc", json=body)
        assert r.status_code == 200, r.text
        yield running


async def _to_callback(s: Site, idp: OidcIdp, email: str, *, verified: bool = True) -> str:
    """Start at inboxhub, sign in at the IdP: the callback URL the IdP sends back."""
    idp.sign_in(email, verified=verified)
    async with s.browser() as browser:
        start = await browser.get(LOGIN)
    assert start.status_code == 302, start.text
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    async with httpx.AsyncClient() as at_idp:
        answer = await at_idp.get(start.headers["location"])
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


async def _finish(s: Site, callback: str) -> httpx.Response:
    async with s.browser() as browser:
        return await browser.get(local(callback))


async def _sign_in(s: Site, idp: OidcIdp, email: str) -> httpx.Response:
    """The whole flow; the exchange's response (a token pair if all went well)."""
    done = await _finish(s, await _to_callback(s, idp, email))
    assert done.status_code == 302, done.text
    async with s.browser() as browser:
        return await browser.post(
            "/api/v1/auth/sso/exchange", json={"code": sso_code(done.headers["location"])}
        )


async def _me(s: Site, tokens: httpx.Response) -> dict[str, object]:
    claims = s.app.state.verify_token(tokens.json()["access_token"])
    if inspect.isawaitable(claims):
        claims = await claims
    return {"user_id": claims.user_id, "tenant_id": claims.tenant_id, "roles": list(claims.roles)}


# ---------------------------------------------------------------- configuration


async def test_admins_manage_the_config_and_the_secret_stays_hidden(s: Site, idp: OidcIdp) -> None:
    r = await s.admin.get("/api/v1/sso/oidc")
    assert r.status_code == 200
    view = r.json()
    assert view["issuer"] == idp.issuer and view["client_secret_set"] is True
    assert CLIENT_SECRET not in r.text
    assert view["redirect_uri"] == "http://inboxhub.test/api/v1/auth/sso/acme/oidc/callback"
    stored = await s.c.sso.get_config(s.acme, "oidc")
    assert stored is not None and stored.secret is not None
    assert CLIENT_SECRET.encode() not in stored.secret  # sealed at rest
    assert s.c.box.decrypt(stored.secret) == CLIENT_SECRET.encode()
    audited = await s.audit("sso.config_updated")
    assert [a["tenant_id"] for a in audited] == [s.acme]
    events = await s.c.bus.read(TENANT_CONFIG_UPDATED)
    assert any(e.envelope.data["what"] == "sso.oidc.saved" for e in events)


async def test_members_may_not_touch_the_config(s: Site) -> None:
    assert (await s.member.get("/api/v1/sso/oidc")).status_code == 403
    assert (await s.member.put("/api/v1/sso/oidc", json={})).status_code == 403
    assert (await s.member.delete("/api/v1/sso/oidc")).status_code == 403


async def test_another_tenants_config_is_never_seen(s: Site) -> None:
    assert (await s.other_admin.get("/api/v1/sso/oidc")).status_code == 404
    assert (await s.other_admin.delete("/api/v1/sso/oidc")).status_code == 404
    assert (await s.admin.get("/api/v1/sso/oidc")).status_code == 200


async def test_an_issuer_without_discovery_is_refused(s: Site, idp: OidcIdp) -> None:
    body = {"issuer": f"{idp.issuer}/nowhere", "client_id": "x", "client_secret": "y"}
    r = await s.other_admin.put("/api/v1/sso/oidc", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


async def test_the_first_save_needs_a_client_secret(s: Site, idp: OidcIdp) -> None:
    r = await s.other_admin.put(
        "/api/v1/sso/oidc", json={"issuer": idp.issuer, "client_id": CLIENT_ID}
    )
    assert r.status_code == 422


async def test_deleting_the_config_stops_sign_in(s: Site) -> None:
    assert (await s.admin.delete("/api/v1/sso/oidc")).status_code == 204
    async with s.browser() as browser:
        assert (await browser.get(LOGIN)).status_code == 404


# ---------------------------------------------------------------- sign-in


async def test_an_existing_user_signs_in(s: Site, idp: OidcIdp) -> None:
    tokens = await _sign_in(s, idp, MEMBER)
    assert tokens.status_code == 200, tokens.text
    me = await _me(s, tokens)
    assert me["tenant_id"] == s.acme and me["roles"] == ["member"]
    logins = [a for a in await s.audit("auth.login") if a["detail"].get("method") == "sso"]
    assert logins and logins[-1]["detail"]["protocol"] == "oidc"


async def test_a_new_user_on_a_verified_domain_is_created(s: Site, idp: OidcIdp) -> None:
    tokens = await _sign_in(s, idp, f"New.Person@{VERIFIED}")
    assert tokens.status_code == 200, tokens.text
    me = await _me(s, tokens)
    assert me["tenant_id"] == s.acme and me["roles"] == ["member"]
    created = await s.c.bus.read(USER_CREATED)
    assert any(e.envelope.data["email"] == f"new.person@{VERIFIED}" for e in created)


@pytest.mark.parametrize("domain", [UNVERIFIED, "elsewhere.test"])
async def test_no_new_user_outside_the_verified_domains(s: Site, idp: OidcIdp, domain: str) -> None:
    done = await _finish(s, await _to_callback(s, idp, f"someone@{domain}"))
    assert done.status_code == 403
    assert not [u for u, _ in await s.c.directory.find_users_by_email(f"someone@{domain}")]


async def test_the_idp_opens_no_account_outside_the_verified_domains(s: Site, idp: OidcIdp) -> None:
    """A tenant admin runs the IdP: were it to speak for any address, an admin could
    sign in as the tenant's owner. An owner at an unverified domain stays shut."""
    owner = f"owner@{UNVERIFIED}"
    await s.c.directory.create_user(s.acme, owner, None, ["owner"])
    done = await _finish(s, await _to_callback(s, idp, owner))
    assert done.status_code == 403
    assert "verified" in done.json()["detail"]


async def test_no_new_user_when_jit_is_off(s: Site, idp: OidcIdp) -> None:
    body = {"issuer": idp.issuer, "client_id": CLIENT_ID, "jit": False}
    assert (await s.admin.put("/api/v1/sso/oidc", json=body)).status_code == 200
    done = await _finish(s, await _to_callback(s, idp, f"late@{VERIFIED}"))
    assert done.status_code == 403


async def test_an_unverified_email_is_refused(s: Site, idp: OidcIdp) -> None:
    done = await _finish(s, await _to_callback(s, idp, MEMBER, verified=False))
    assert done.status_code == 401


async def test_a_code_is_exchanged_once(s: Site, idp: OidcIdp) -> None:
    done = await _finish(s, await _to_callback(s, idp, MEMBER))
    code = sso_code(done.headers["location"])
    async with s.browser() as browser:
        first = await browser.post("/api/v1/auth/sso/exchange", json={"code": code})
        again = await browser.post("/api/v1/auth/sso/exchange", json={"code": code})
    assert first.status_code == 200 and again.status_code == 401


async def test_a_state_is_used_once(s: Site, idp: OidcIdp) -> None:
    callback = await _to_callback(s, idp, MEMBER)
    assert (await _finish(s, callback)).status_code == 302
    assert (await _finish(s, callback)).status_code == 401


async def test_another_tenants_slug_cannot_finish_the_sign_in(s: Site, idp: OidcIdp) -> None:
    body = {"issuer": idp.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert (await s.other_admin.put("/api/v1/sso/oidc", json=body)).status_code == 200
    callback = await _to_callback(s, idp, MEMBER)  # started for acme
    moved = callback.replace("/sso/acme/", "/sso/other/")
    assert (await _finish(s, moved)).status_code == 401


@pytest.mark.parametrize(
    "tamper", ["forged", "expired", "audience", "nonce", "issuer", "none", "hs256", "unknown_kid"]
)
async def test_a_bad_id_token_is_refused(s: Site, idp: OidcIdp, tamper: str) -> None:
    callback = await _to_callback(s, idp, MEMBER)
    idp.tamper = tamper
    done = await _finish(s, callback)
    assert done.status_code == 401, done.text
    assert done.headers["content-type"] == "application/problem+json"
